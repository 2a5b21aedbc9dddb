"""The sandbox, tried as a hostile student would: what the worker locks, what it can see, who it
is, how much of the machine it gets, and how long it may take.

Each test runs real code in a real bubblewrap worker (`RemoteImplementation`, as the grader
does) and reads the answers from outside: no verdict here trusts what the worker says of itself
beyond the plain values a probe function returns.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from autograder import families, inspection, sandbox
from autograder.checks.adapter import CheckFailed
from autograder.remote import RemoteImplementation

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)")]


def worker(cells: dict[str, str], chapter: str | None = None, **kwargs) -> RemoteImplementation:
    chosen = families.for_chapter(chapter) if chapter else []
    return RemoteImplementation(list(cells.items()), mode="bwrap", request_timeout=kwargs.pop("timeout", 60),
                                forbidden=tuple(f.name for f in chosen), mounts=sandbox.prepare(chosen), **kwargs)


def outcomes(impl: RemoteImplementation, routes: dict[str, str]) -> dict[str, str]:
    """{route: 'ran' or 'ExceptionClass: message'} for each expression, evaluated in the worker."""
    return impl.call("attempt", routes)[0]


FORBIDDEN = "not available in this exercise"


def refused(got: dict[str, str], routes) -> dict[str, str]:
    """The routes that were NOT refused as forbidden (empty when every one was)."""
    return {name: got[name] for name in routes if FORBIDDEN not in got[name]}


ATTEMPT = '''
import threading
import numpy as np
import torch
import torch.nn.functional as F

def attempt(routes):
    results = {}
    for name, expression in routes.items():
        try:
            eval(expression)
            results[name] = "ran"
        except BaseException as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    return results

def in_thread(fn):
    """fn() run in another thread; its exception, if any, raised here."""
    box = []
    def run():
        try:
            box.append(("value", fn()))
        except BaseException as exc:
            box.append(("error", exc))
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    kind, value = box[0]
    if kind == "error":
        raise value
    return value
'''

DROPOUT_ROUTES = {
    "F.dropout": "F.dropout(torch.ones(4, 4), 0.5, True)",
    "F.dropout eval": "F.dropout(torch.ones(4, 4), 0.5, False)",
    "nn.Dropout": "torch.nn.Dropout(0.5)(torch.ones(4, 4))",
    "torch.dropout": "torch.dropout(torch.ones(4, 4), 0.5, True)",
    "Tensor op": "torch.ops.aten.native_dropout(torch.ones(4, 4), 0.5, True)",
    "alpha": "F.alpha_dropout(torch.ones(4, 4), 0.5, True)",
    "feature": "F.dropout2d(torch.ones(2, 3, 4, 4), 0.5, True)",
    "in a thread": "in_thread(lambda: torch.dropout(torch.ones(4, 4), 0.5, True))",
    "attention dropout": "F.scaled_dot_product_attention(torch.ones(1, 4, 4), torch.ones(1, 4, 4), torch.eye(4)[None], dropout_p=0.5)",
    "decomposition": "torch._decomp.decompositions.native_dropout(torch.ones(4, 4), 0.5, True)",
    "reference": "torch._refs.nn.functional.dropout(torch.ones(4, 4), 0.5, True)",
}
NORMALIZATION_ROUTES = {
    "F.batch_norm": "F.batch_norm(torch.randn(8, 3), None, None, training=True)",
    "nn.BatchNorm1d": "torch.nn.BatchNorm1d(3)(torch.randn(8, 3))",
    "torch.batch_norm": "torch.batch_norm(torch.randn(8, 3), None, None, None, None, True, 0.1, 1e-5, False)",
    "aten native": "torch.ops.aten.native_batch_norm(torch.randn(8, 3), None, None, None, None, True, 0.1, 1e-5)",
    "rms_norm on centred inputs": "F.rms_norm((lambda x: (x - x.mean(0)).T)(torch.randn(8, 3)), (8,))",
    "layer_norm transposed": "F.layer_norm(torch.randn(8, 3).T, (8,))",
    "group_norm": "F.group_norm(torch.randn(8, 4), 2)",
    "instance_norm": "F.instance_norm(torch.randn(1, 3, 8))",
    "in a thread": "in_thread(lambda: torch.batch_norm(torch.randn(8, 3), None, None, None, None, True, 0.1, 1e-5, False))",
    "quantized": "torch.ops.quantized.batch_norm1d(torch.quantize_per_tensor(torch.randn(8, 3), 0.1, 0, torch.quint8), "
                 "None, None, torch.zeros(3), torch.ones(3), 1e-5, 0.1, 0)",
    "decomposition": "torch._decomp.decompositions.native_batch_norm(torch.randn(8, 3), None, None, None, None, True, 0.1, 1e-5)",
    "reference _normalize": "torch._refs._normalize(torch.randn(8, 3), [0], 1e-5)",
    "weight_norm": "torch._weight_norm(torch.randn(8, 3), torch.ones(1, 3), 0)",
}
INIT_ROUTES = {
    "fans": "torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(3, 4))",
    "gain": "torch.nn.init.calculate_gain('relu')",
    "kaiming": "torch.nn.init.kaiming_uniform_(torch.empty(3, 4))",
    "alias": "(lambda init: init.xavier_uniform_)(__import__('torch.nn.init', fromlist=['x']))(torch.empty(3, 4))",
    "reloaded": "__import__('importlib').reload(torch.nn.init).calculate_gain('relu')",
    "from source": "(lambda g: exec(open(torch.nn.init.__file__).read(), g) or g['calculate_gain']('relu'))({})",
}
HONEST = {
    "masked multiply": "torch.ones(4, 4) * (torch.rand(4, 4) >= 0.5) / 0.5",
    "bernoulli": "torch.bernoulli(torch.full((4,), 0.5))",
    "numpy dropout": "np.random.default_rng(0).random((4, 4)) >= 0.5",
    "batch statistics": "(lambda x: (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5))(torch.randn(8, 3))",
    "autograd": "(lambda x: (x * 2).sum().backward())(torch.ones(3, requires_grad=True))",
    "vector norm": "torch.linalg.vector_norm(torch.randn(8, 3), dim=0)",
}


@pytest.mark.parametrize("chapter, routes", [("02_dropout", DROPOUT_ROUTES), ("03_batchnorm", NORMALIZATION_ROUTES)])
def test_every_route_to_a_forbidden_kernel_fails_and_honest_code_runs(chapter, routes):
    with worker({"attempt": ATTEMPT}, chapter) as impl:
        got = outcomes(impl, {**routes, **HONEST})
    assert not refused(got, routes)
    assert {name: got[name] for name in HONEST} == {name: "ran" for name in HONEST}, got


def test_torch_nn_init_is_absent_from_the_chapter_04_sandbox_in_memory_on_disk_and_in_bytecode():
    probe = ATTEMPT + '''
def library_files():
    import glob, marshal
    source = open(torch.nn.init.__file__).read()
    compiled = [open(p, "rb").read() for p in glob.glob(torch.nn.init.__file__.rsplit("/", 1)[0] + "/__pycache__/init.*.pyc")]
    names = [marshal.loads(data[16:]).co_names for data in compiled]
    return ("atan" in source or "math.sqrt" in source, "raise RuntimeError" in source,
            [("_calculate_fan_in_and_fan_out" in n, "sqrt" in n) for n in names])
'''
    with worker({"attempt": probe}, "04_initialization") as impl:
        got = outcomes(impl, {**INIT_ROUTES, **HONEST})
        keeps_math, raises, compiled = impl.call("library_files")[0]
    assert not refused(got, INIT_ROUTES)
    assert {name: got[name] for name in HONEST} == {name: "ran" for name in HONEST}, got
    assert raises and not keeps_math, "torch/nn/init.py in the sandbox still holds the helpers' code"
    assert all(not uses_sqrt for _, uses_sqrt in compiled), compiled


def test_the_lock_cannot_be_undone_from_inside():
    """ctypes, new processes, trace functions, the collector's object lists and the audit hook's
    own defaults are refused once the student's code runs; the forbidden kernel stays forbidden."""
    routes = {
        "tamper": "[setattr(__import__('autograder.lockdown', fromlist=['x']), name, frozenset()) "
                  "for name in ('_REFUSED_EVENTS', '_REFUSED_PREFIXES', '_GUARDED_ATTRIBUTES')]",
        "ctypes dlopen": "__import__('ctypes').CDLL(None)",
        "ctypes symbol": "__import__('ctypes').pythonapi.PyRun_SimpleString",
        "subprocess": "__import__('subprocess').run(['true'])",
        "fork": "__import__('os').fork()",
        "settrace": "__import__('sys').settrace(lambda *a: None)",
        "gc objects": "__import__('gc').get_objects()",
        "gc referrers": "__import__('gc').get_referrers(F)",
        "after": "F.dropout(torch.ones(4, 4), 0.5, True)",
    }
    with worker({"attempt": ATTEMPT}, "02_dropout") as impl:
        got = outcomes(impl, routes)
    assert got.pop("tamper") == "ran"  # harmless: the hook reads none of the module's state
    assert FORBIDDEN in got.pop("after")
    assert {name: got[name].split(":")[0] for name in got} == {name: "PermissionError" for name in got}, got


IDENTITY = '''
import os, sys
def identity():
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    readable = {}
    for path in ("/etc/shadow", "/etc/hostname", "/etc/passwd", "/root", "/home"):
        try:
            open(path).read(); readable[path] = True
        except OSError:
            readable[path] = False
    foreign = [p for p in sys.path if "site-packages" in p and not os.path.realpath(p).startswith(os.path.realpath(sys.prefix))]
    return (os.getuid(), os.geteuid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(), readable,
            sorted(os.listdir("/etc")), [os.listdir(p) for p in (
                os.path.join(sys.base_prefix, "lib", "python3.11", "site-packages"),) if os.path.isdir(p)])
'''


def test_the_student_runs_unprivileged_and_sees_almost_nothing_of_etc():
    with worker({"identity": IDENTITY}) as impl:
        uid, euid, capabilities, no_new_privileges, readable, etc, base_packages = impl.call("identity")[0]
    assert uid != 0 and euid != 0
    assert int(capabilities, 16) == 0 and no_new_privileges == "1"
    assert readable == {"/etc/shadow": False, "/etc/hostname": False, "/etc/passwd": True, "/root": False, "/home": False}
    assert set(etc) <= {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "host.conf",
                        "passwd", "group"}, etc
    assert base_packages in ([], [[]]), "another installation's site-packages is visible"


CPU_AND_TASKS = '''
import hashlib, threading, time
def busy(n, seconds, spin=True):
    """Start n threads that spin (or just wait) for `seconds`; return how many could be started."""
    stop = time.monotonic() + seconds
    def spin_until_stop():  # hashing a large buffer releases the GIL: without a CPU limit this takes every core
        data = bytes(1 << 22)
        while time.monotonic() < stop:
            hashlib.sha256(data).digest()
    def wait_until_stop():
        time.sleep(max(0.0, stop - time.monotonic()))
    threads = [threading.Thread(target=spin_until_stop if spin else wait_until_stop) for _ in range(n)]
    started = 0
    for thread in threads:
        try:
            thread.start(); started += 1
        except RuntimeError:
            break
    for thread in threads[:started]:
        thread.join()
    return started
'''


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_a_worker_gets_at_most_its_tasks_and_one_cpu(warm):
    """Cold: the worker's own cgroup. Warm: the template's, which holds one submission at a time."""
    from autograder import warm_sandbox
    from autograder.fair_share import FairShare

    probe = FairShare.create()
    if probe is None:
        pytest.skip("this machine lets the grader create no cgroup (not root, no delegated subtree)")
    probe.remove()
    if warm and not warm_sandbox.available("bwrap"):
        pytest.skip("warm sandboxes need the grader to run as root")
    with worker({"busy": CPU_AND_TASKS}, warm=warm) as impl:
        assert impl.has("busy")
        assert isinstance(impl.worker.process, warm_sandbox.WarmChild) == warm
        share = impl.worker.process.template.share if warm else impl.worker.process.share
        assert share is not None and {p.pid for p in impl.worker.process.pids()} <= set(share.members())
        assert impl.call("busy", 200, 3.0, spin=False)[0] < 64  # the cgroup's task limit stops the thread bomb
        before, start = _cpu_seconds(share.members()), time.monotonic()
        impl.call("busy", 8, 3.0)
        used = (_cpu_seconds(share.members()) - before) / (time.monotonic() - start)
    assert used < 1.25, f"8 busy threads used {used:.2f} CPUs"
    print(f"8 busy threads in one worker used {used:.2f} CPUs (machine: {os.cpu_count()})")


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes, all their threads included (from /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def test_the_deadline_bounds_loading_and_restarts_together():
    sleepy = "import time\n" + "time.sleep(4)\n" * 10 + "def f():\n    return 1\n"
    impl = worker({"f": sleepy}, deadline=time.monotonic() + 12)
    impl.worker.load_timeout = 5
    start = time.monotonic()
    with pytest.raises(CheckFailed, match="time limit"):
        impl.has("f")
    impl.close()
    assert time.monotonic() - start < 12 + 5


def test_a_huge_or_hostile_notebook_is_refused_by_the_confined_reader(tmp_path):
    huge_cell = tmp_path / "huge.ipynb"
    source = "def dropout_forward(x, p):\n    return x\n" + "a = 1\n" * 600_000
    huge_cell.write_text(json.dumps({"cells": [{"cell_type": "code", "source": source, "metadata": {
        "nbgrader": {"grade_id": "dropout_forward", "solution": True}}}]}))
    found = inspection.inspect(huge_cell, ["dropout_forward"], [], {}, allowed=["dropout_forward"])
    assert found.cells == [] and any("longer than 100,000 characters" in p for p in found.problems)

    bomb = tmp_path / "bomb.ipynb"  # 39 MB of JSON that becomes over 1 GB of Python dicts
    with open(bomb, "w") as fh:
        fh.write('{"cells": [' + ",".join(["{}"] * 13_000_000) + "]}")
    start = time.monotonic()
    found = inspection.inspect(bomb, ["dropout_forward"], [], {}, allowed=["dropout_forward"])
    assert found.unreadable and "limits" in found.unreadable
    assert time.monotonic() - start < 60
