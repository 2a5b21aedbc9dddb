"""Warm sandboxes: every submission forked from one template still gets a confinement of its own.

A planting submission changes everything a Python process can change about itself and its
surroundings (module attributes, builtins, files in /tmp and /dev/shm, the environment, torch's
settings, threads, signal handlers and alarms, the working directory, umask, limits); the next
submission forked from the same template reports what it sees, and must see none of it. The same
report taken inside the planting worker itself shows every plant, so the report can fail.
"""
from __future__ import annotations

import os
import time

import pytest

from autograder import families, sandbox, warm_sandbox
from autograder.remote import RemoteImplementation

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not warm_sandbox.available("bwrap"),
                                                   reason="warm sandboxes need bubblewrap and a grader running as root")]

PLANT = r'''
import builtins, os, random, resource, signal, sys, threading, time, warnings
import numpy
import torch

torch.nn.functional.relu = lambda x: x               # a module attribute of a shared library
numpy.pi = 3.0
builtins.len = lambda x: 0 if x == "planted" else __import__("operator").length_hint(x)
sys.modules["planted_module"] = sys
warnings.filterwarnings("error")
for folder in ("/tmp", "/dev/shm"):
    try:
        with open(os.path.join(folder, "planted"), "w") as fh:
            fh.write("from the previous submission")
    except OSError:
        pass
os.environ["PLANTED"] = "1"
os.environ["LD_PRELOAD"] = "/tmp/planted.so"
torch.set_default_dtype(torch.float64)
torch.manual_seed(1234)
torch.set_num_threads(1)
torch.set_printoptions(precision=1)
numpy.random.seed(1234)
random.seed(1234)
signal.signal(signal.SIGTERM, lambda *a: None)
signal.signal(signal.SIGUSR1, lambda *a: None)
signal.alarm(3600)
def keep_writing():
    while True:
        with open("/tmp/planted-by-thread", "w") as fh:
            fh.write(str(time.time()))
        time.sleep(0.01)
threading.Thread(target=keep_writing, daemon=True).start()
os.umask(0o000)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
sys.setrecursionlimit(200)  # last: deep imports above would hit it
'''

REPORT = r'''
def report():
    """What this process sees of a previous submission (empty lists and defaults when isolated)."""
    import builtins, os, resource, signal, sys, threading, warnings
    import numpy
    import torch

    listed = {folder: sorted(os.listdir(folder)) for folder in ("/tmp", "/dev/shm") if os.path.isdir(folder)}
    with open("/proc/self/status") as fh:
        status = dict(line.split(":", 1) for line in fh if ":" in line)
    umask = os.umask(0o022)
    os.umask(umask)
    return {
        "relu_patched": torch.nn.functional.relu(torch.tensor([-1.0])).item() != 0.0,
        "numpy_pi": float(numpy.pi),
        "len_patched": builtins.len.__module__ != "builtins",
        "planted_module": "planted_module" in sys.modules,
        "recursion_limit": sys.getrecursionlimit(),
        "warnings_as_errors": any(f[0] == "error" for f in warnings.filters),
        "files": listed,
        "environment": sorted(k for k in os.environ if k in ("PLANTED", "LD_PRELOAD")),
        "default_dtype": str(torch.get_default_dtype()),
        "print_precision": torch._tensor_str.PRINT_OPTS.precision,
        "sigterm": "default" if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else "handled",
        "sigusr1": "default" if signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL else "handled",
        "alarm": signal.alarm(0),
        "threads": threading.active_count(),
        "kernel_threads": int(status["Threads"]),
        "umask": oct(umask),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 64,
        "pid": os.getpid(),
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(),
        "capabilities": status["CapEff"].strip(),
    }
'''

def _umask() -> int:
    """This process's umask, which the template and so every worker inherits."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


PRISTINE = {"relu_patched": False, "numpy_pi": 3.141592653589793, "len_patched": False, "planted_module": False,
            "recursion_limit": 1000, "warnings_as_errors": False, "environment": [], "default_dtype": "torch.float32",
            "print_precision": 4, "sigterm": "default", "sigusr1": "default", "alarm": 0,
            "threads": 1, "kernel_threads": 1, "umask": oct(_umask()), "nofile": False,
            "pid": 1, "processes": [1], "uid": sandbox.NOBODY, "capabilities": "0000000000000000"}


def own_entries_in_tmp(mounts) -> list[str]:
    """Names in /tmp that the sandbox itself puts there: the course, when it is checked out under /tmp."""
    command = sandbox.template_command(0, mounts)
    return sorted({arg.split("/")[2] for arg in command if arg.startswith("/tmp/")})


@pytest.fixture(scope="module")
def mounts():
    return sandbox.prepare(families.for_chapter("02_dropout"))


def worker(cells: list[str], mounts) -> RemoteImplementation:
    return RemoteImplementation([(f"cell{i}", source) for i, source in enumerate(cells)], mode="bwrap",
                                request_timeout=60, forbidden=("dropout",), mounts=mounts, warm=True)


def seen(cells: list[str], mounts) -> dict:
    with worker(cells, mounts) as impl:
        found, _ = impl.call("report")
        assert impl.worker.process is None or isinstance(impl.worker.process, warm_sandbox.WarmChild)
        return found


def test_the_report_sees_every_plant_in_the_planting_process_itself(mounts):
    planted = seen([PLANT, "import time\ntime.sleep(0.1)\n", REPORT], mounts)
    differences = {key for key, value in PRISTINE.items() if planted[key] != value}
    expected = set(PRISTINE) - {"pid", "processes", "uid", "capabilities", "kernel_threads", "threads"}
    assert expected <= differences, f"the report misses plants: {sorted(expected - differences)}"
    assert planted["threads"] == 2 and planted["kernel_threads"] >= 2
    assert {"planted", "planted-by-thread"} <= set(planted["files"]["/tmp"])


def test_the_next_submission_from_the_same_template_sees_nothing_of_the_previous_one(mounts):
    template = warm_sandbox.template_for(mounts, sandbox.Limits())
    started = time.monotonic()
    with worker([PLANT, "import time\ntime.sleep(0.2)\n", "def report():\n    return {}\n"], mounts) as impl:
        impl.call("report")  # the planting submission, graded: its thread is writing into /tmp now
    clean = seen([REPORT], mounts)
    assert warm_sandbox.template_for(mounts, sandbox.Limits()) is template and template.alive()  # the same template
    leaked = {key: clean[key] for key in PRISTINE if clean[key] != PRISTINE[key] and key != "files"}
    assert leaked == {}, leaked
    own = own_entries_in_tmp(mounts)
    assert clean["files"] in ({"/tmp": own, "/dev/shm": []}, {"/tmp": own}), clean["files"]
    print(f"two warm submissions (planting, then reporting): {time.monotonic() - started:.2f} s")


def test_a_warm_worker_starts_far_faster_than_a_cold_one(mounts):
    warm_sandbox.template_for(mounts, sandbox.Limits())  # started once per grading job
    timings = {}
    for warm in (True, False):
        started = time.monotonic()
        impl = RemoteImplementation([("c", "x = 1\n")], mode="bwrap", forbidden=("dropout",), mounts=mounts, warm=warm)
        with impl:
            assert impl.has("x")
            assert isinstance(impl.worker.process, warm_sandbox.WarmChild) == warm
        timings[warm] = time.monotonic() - started
    print(f"worker start and first answer: warm {timings[True]:.2f} s, cold {timings[False]:.2f} s")
    assert timings[True] < timings[False]


def test_a_killed_or_exiting_warm_worker_is_reported_and_leaves_nothing(mounts):
    template = warm_sandbox.template_for(mounts, sandbox.Limits())
    with worker(["import os\ndef leave():\n    os._exit(7)\n"], mounts) as impl:
        from autograder.remote import WorkerDied

        with pytest.raises(WorkerDied, match="exit status 7"):
            impl.call("leave")
    assert gone(template)
    with worker(["import os\nchildren = [os.fork() for _ in range(3)]\n", "def ok():\n    return 1\n"], mounts) as impl:
        impl.call("ok")  # the audit hook refuses fork: the statement fails, the rest loads
    assert gone(template) and template.alive()


def gone(template, seconds: float = 5.0) -> bool:
    """True once nothing is left below the template (it reaps finished children at once)."""
    end = time.monotonic() + seconds
    while template.children() and time.monotonic() < end:
        time.sleep(0.05)
    return template.children() == []


def test_what_the_sandbox_mounts_under_tmp_stays_visible_and_read_only(mounts, tmp_path):
    """A course (or its virtualenv) checked out under /tmp, as a CI clone may be: the child's fresh
    /tmp must not hide it. Shown here with a file and a folder the sandbox mounts below /tmp."""
    folder = tmp_path / "course-under-tmp"
    (folder / "package").mkdir(parents=True)
    (folder / "package" / "module.py").write_text("VALUE = 42\n")
    (folder / "notes.txt").write_text("read me\n")
    (folder / "overlay.py").write_text("VALUE = 43\n")
    # A folder, a file beside it, and a file over one inside the folder (as the library overlay does in a venv).
    extra = [(str(folder / "package"), "/tmp/checkout/package"), (str(folder / "notes.txt"), "/tmp/checkout/notes.txt"),
             (str(folder / "overlay.py"), "/tmp/checkout/package/module.py")]
    probe = ("def probe():\n"
             "    import os, sys\n"
             "    sys.path.insert(0, '/tmp/checkout/package')\n"
             "    import module\n"
             "    try:\n"
             "        open('/tmp/checkout/package/module.py', 'a').close()\n"
             "        writable = True\n"
             "    except OSError:\n"
             "        writable = False\n"
             "    return [module.VALUE, open('/tmp/checkout/notes.txt').read(), writable,\n"
             "            sorted(os.listdir('/tmp')), os.access('/tmp', os.W_OK)]\n")
    impl = RemoteImplementation([("probe", probe)], mode="bwrap", forbidden=("dropout",), mounts=mounts + extra, warm=True)
    with impl:
        value, notes, writable, listed, tmp_writable = impl.call("probe")[0]
        assert isinstance(impl.worker.process, warm_sandbox.WarmChild)
    assert (value, notes, writable) == (43, "read me\n", False)  # the file over the folder's, as mounted
    assert listed == sorted({"checkout", *own_entries_in_tmp(mounts)}) and tmp_writable  # a fresh /tmp, the mounts in it
