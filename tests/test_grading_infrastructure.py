"""The grader's parts that do not depend on a chapter: wire format, submission discovery,
static forbidden-call scan, and the sandboxed worker's confinement and failure handling."""
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder import protocol, sandbox, submissions
from autograder.checks.adapter import CheckFailed, Rng, StudentError
from autograder.remote import RemoteImplementation

SANDBOX = "bwrap" if sandbox.bwrap_path() else None
needs_bwrap = pytest.mark.skipif(SANDBOX is None, reason="bubblewrap not installed (.ci/run installs it)")


# -- wire format ------------------------------------------------------------------------------

def test_protocol_round_trip_keeps_dtypes_shapes_and_structure():
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": (np.array([True, False]), 3, 2.5, None), "c": ["x"]}
    back = protocol.decode(json.loads(json.dumps(protocol.encode(value))))
    assert back["a"].dtype == np.float32 and back["a"].shape == (2, 3) and np.array_equal(back["a"], value["a"])
    assert isinstance(back["b"], tuple) and back["b"][0].dtype == bool and back["b"][1:] == (3, 2.5, None)
    assert back["c"] == ["x"]


def test_protocol_keeps_zero_dimensional_arrays_zero_dimensional():
    back = protocol.decode(json.loads(json.dumps(protocol.encode(np.array(3, dtype=np.int64)))))
    assert back.shape == () and back.dtype == np.int64 and back == 3


def test_protocol_refuses_object_arrays_and_lying_payloads():
    with pytest.raises(protocol.ProtocolError):
        protocol.encode(np.array([object()]))
    with pytest.raises(protocol.ProtocolError):
        protocol.decode({"__nd__": ["|O", [1], ""]})
    with pytest.raises(protocol.ProtocolError):
        protocol.decode({"__nd__": ["<f8", [4], "AAAA"]})  # 3 bytes for 4 doubles


def test_protocol_strips_array_subclasses():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True
    liar = np.zeros(3).view(Liar)
    back = protocol.decode(protocol.encode(liar))
    assert type(back) is np.ndarray


# -- submissions ------------------------------------------------------------------------------

def _nb(path: Path, cells=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_collect_files_folders_and_nbgrader_layout(tmp_path):
    _nb(tmp_path / "single" / "alice.ipynb")
    _nb(tmp_path / "byfolder" / "bob" / "02_dropout.ipynb")
    _nb(tmp_path / "exchange" / "carol" / "02_dropout" / "02_dropout.ipynb")
    _nb(tmp_path / "byfolder" / "bob" / ".ipynb_checkpoints" / "02_dropout-checkpoint.ipynb")
    subs = submissions.collect([tmp_path / "single" / "alice.ipynb", tmp_path / "byfolder", tmp_path / "exchange"], "02_dropout")
    assert [s.student_id for s in subs] == ["alice", "bob", "carol"]
    assert all(len(s.sha256) == 64 for s in subs)


def test_collect_lms_zip_with_moodle_and_canvas_names(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Jane Doe_123456_assignsubmission_file_/02_dropout.ipynb", _nb(tmp_path / "x.ipynb").read_text())
        zf.writestr("smithjohn_4242_99887_02_dropout.ipynb", _nb(tmp_path / "y.ipynb").read_text())
        zf.writestr("readme.txt", "not a notebook")
    ids = [s.student_id for s in submissions.collect([archive], "02_dropout", workdir=tmp_path)]
    assert ids == ["Jane_Doe_123456", "smithjohn_4242"]


def test_collect_refuses_duplicate_ids_and_missing_paths(tmp_path):
    _nb(tmp_path / "a" / "alice.ipynb")
    _nb(tmp_path / "b" / "alice.ipynb")
    with pytest.raises(submissions.SubmissionError, match="two submissions for student id 'alice'"):
        submissions.collect([tmp_path / "a", tmp_path / "b"], "02_dropout")
    with pytest.raises(submissions.SubmissionError, match="no such file"):
        submissions.collect([tmp_path / "missing.ipynb"], "02_dropout")


def _unusable(subs) -> dict[str, str]:
    return {s.student_id: s.unusable for s in subs if s.unusable}


def test_links_are_never_followed_and_each_becomes_a_row_with_its_reason(tmp_path):
    """A link to a readable file (the instructor's solution, through /proc/self/cwd or directly),
    to a folder, or dangling: never graded as what it points to, in a folder, in nbgrader's
    layout, or named on the command line."""
    solution = Path(submissions.__file__).resolve().parents[1] / "solutions" / "02_dropout" / "02_dropout.ipynb"
    folder = tmp_path / "class"
    _nb(folder / "honest.ipynb")
    folder.joinpath("direct.ipynb").symlink_to(solution)
    folder.joinpath("viaproc.ipynb").symlink_to("/proc/self/cwd/solutions/02_dropout/02_dropout.ipynb")
    folder.joinpath("dangling.ipynb").symlink_to(tmp_path / "nothing.ipynb")
    (folder / "carol" / "02_dropout").mkdir(parents=True)
    folder.joinpath("carol", "02_dropout", "02_dropout.ipynb").symlink_to(solution)  # nbgrader's layout
    (folder / "dave").symlink_to(solution.parent, target_is_directory=True)            # a linked folder
    named = tmp_path / "named.ipynb"
    named.symlink_to(solution)
    subs = submissions.collect([folder, named], "02_dropout")
    unusable = _unusable(subs)
    assert sorted(unusable) == ["carol", "dangling", "direct", "named", "viaproc"]
    assert all("symbolic link" in reason for reason in unusable.values())
    assert "dave" not in {s.student_id for s in subs}  # a linked folder is not entered
    assert [s.student_id for s in subs if not s.unusable] == ["honest"]


def test_folders_named_like_notebooks_and_pipes_become_rows_and_the_rest_is_collected(tmp_path):
    folder = tmp_path / "class"
    _nb(folder / "bob.ipynb")
    (folder / "alice.ipynb").mkdir(parents=True)
    _nb(folder / "alice.ipynb" / "inside.ipynb")
    os.mkfifo(folder / "pipe.ipynb")
    subs = submissions.collect([folder], "02_dropout")
    unusable = _unusable(subs)
    assert "folder named like a notebook" in unusable["alice"] and "not a regular file" in unusable["pipe"]
    assert [s.student_id for s in subs if not s.unusable] == ["bob"]


def test_a_zip_with_links_folders_unsafe_paths_and_huge_entries_still_yields_every_row(tmp_path):
    evil = tmp_path / "export.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("good_1_2_02_dropout.ipynb", _nb(tmp_path / "x.ipynb").read_text())
        zf.writestr("../../escape.ipynb", "{}")
        zf.writestr("zoe.ipynb/", "")                       # a folder named like a notebook
        link = zipfile.ZipInfo("linked.ipynb")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/proc/self/cwd/solutions/02_dropout/02_dropout.ipynb")
        huge = zipfile.ZipInfo("huge.ipynb")
        zf.writestr(huge, b" " * (submissions.MAX_NOTEBOOK_BYTES + 1), compress_type=zipfile.ZIP_DEFLATED)
    subs = submissions.collect([evil], "02_dropout", workdir=tmp_path)
    unusable = _unusable(subs)
    assert sorted(unusable) == ["escape", "huge", "linked", "zoe"]
    assert "leaves the archive" in unusable["escape"] and "larger than" in unusable["huge"]
    assert "symbolic link" in unusable["linked"] and "folder" in unusable["zoe"]
    assert [s.student_id for s in subs if not s.unusable] == ["good_1"]
    assert not (tmp_path.parent / "escape.ipynb").exists()
    assert all(len(s.sha256) == 64 for s in subs)


def test_solution_cells_by_grade_id_then_by_definition(tmp_path):
    tagged = {"cell_type": "code", "source": "def f():\n    return 1\n", "metadata": {"nbgrader": {"grade_id": "f", "solution": True}}}
    relabelled = {"cell_type": "code", "source": "class G:\n    pass\n", "metadata": {"nbgrader": {"grade_id": "test_G", "grade": True}}}
    path = _nb(tmp_path / "s.ipynb", [tagged, relabelled])
    cells, problems = submissions.solution_cells(path, ["f", "G", "h"])
    assert [name for name, _ in cells] == ["f", "G"]
    assert any("G: its solution cell's nbgrader metadata was changed" in p for p in problems)
    assert any("h: no cell defines it" in p for p in problems)
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    assert submissions.solution_cells(broken, ["f"])[1][0].startswith("not a readable notebook")


# -- the sandboxed worker -----------------------------------------------------------------------

def _remote(cells, **kw):
    return RemoteImplementation(list(cells.items()), mode=SANDBOX or "none", request_timeout=kw.pop("timeout", 20), **kw)


@needs_bwrap
def test_worker_answers_like_the_local_implementation():
    cells = {"f": "import numpy as np\ndef f(x, rng=None):\n    return x * 2, (rng or np.random.default_rng()).random(2)\n"}
    with _remote(cells) as impl:
        (doubled, draws), _ = impl.call("f", np.arange(3.0), rng=Rng(7))
        assert np.array_equal(doubled, [0.0, 2.0, 4.0])
        assert np.array_equal(draws, np.random.default_rng(7).random(2))


@needs_bwrap
def test_worker_cannot_write_course_files_reach_the_network_or_outlive_the_grader(tmp_path):
    target = Path(__file__).resolve().parent / "sandbox-probe.txt"
    cells = {"probe": (
        "import os, socket, subprocess\n"
        "def probe():\n"
        f"    results = {{}}\n"
        f"    try:\n        open({str(target)!r}, 'w').write('x'); results['write'] = 'yes'\n"
        "    except OSError: results['write'] = 'no'\n"
        "    try:\n        socket.create_connection(('127.0.0.1', 22), timeout=1); results['net'] = 'yes'\n"
        "    except OSError: results['net'] = 'no'\n"
        "    for name, start in (('popen', lambda: subprocess.Popen(['sleep', '300'], start_new_session=True)),\n"
        "                        ('fork', os.fork), ('system', lambda: os.system('sleep 300 &'))):\n"
        "        try:\n            start(); results[name] = 'yes'\n"
        "        except PermissionError: results[name] = 'refused'\n"
        "    return results['write'], results['net'], results['popen'], results['fork'], results['system']\n")}
    impl = _remote(cells)
    try:
        assert impl.call("probe")[0] == ("no", "no", "refused", "refused", "refused")
    finally:
        impl.close()
    assert not target.exists()
    # close() returns once each process is dead; allow the kernel a moment to reap them.
    for _ in range(30):
        ps = os.popen("ps -eo pid,stat,args").read().splitlines()
        leftovers = [line for line in ps if line.endswith(" sleep 300") and " Z" not in line]
        if not leftovers:
            break
        time.sleep(0.1)
    assert not leftovers, f"a child process of the student's code outlived the worker: {leftovers}"


@pytest.mark.slow
@needs_bwrap
def test_endless_loop_exit_and_exceptions_become_reasons_and_the_next_call_still_works():
    cells = {"spin": "def spin():\n    while True:\n        pass\n", "leave": "import os\ndef leave():\n    os._exit(3)\n",
             "boom": "def boom():\n    raise ValueError('bad p')\n", "ok": "def ok():\n    return 1\n"}
    with _remote(cells, timeout=3) as impl:
        with pytest.raises(CheckFailed, match="no answer within 3 s"):
            impl.call("spin")
        with pytest.raises(CheckFailed, match="exit status 3"):
            impl.call("leave")
        with pytest.raises(StudentError) as error:
            impl.call("boom")
        assert error.value.is_a("ValueError") and "bad p" in error.value.message
        assert impl.call("ok")[0] == 1


@needs_bwrap
def test_memory_exhaustion_is_stopped_by_the_limit():
    cells = {"hog": "def hog():\n    blocks = []\n    while True:\n        blocks.append(bytearray(1 << 28))\n"}
    with _remote(cells, limits=sandbox.Limits(memory_gb=4)) as impl:
        with pytest.raises((CheckFailed, StudentError)) as failure:
            impl.call("hog")
    assert "MemoryError" in str(failure.value) or "memory" in str(failure.value)


@pytest.mark.slow
@needs_bwrap
def test_top_level_exit_hang_and_hooks_are_skipped_and_the_definitions_kept():
    cells = {"f": ("import os, sys\n"
                   "def f():\n    return 42\n"
                   "get_ipython().input_transformers_cleanup.append(lambda lines: [])\n"
                   "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"
                   "sys.excepthook = lambda *a: None\n"
                   "os._exit(0)\n"),
             "g": "def g():\n    return 7\nwhile True:\n    pass\n"}
    with _remote(cells) as impl:
        impl.worker.load_timeout = 5
        assert impl.call("f")[0] == 42 and impl.call("g")[0] == 7
        assert len(impl.load_problems) == 2 and all("skipped" in p for p in impl.load_problems)


@needs_bwrap
def test_worker_sees_no_file_outside_python_and_the_course_packages(tmp_path):
    secret = Path(__file__).resolve().parent / ".sandbox-secret-submission.ipynb"
    secret.write_text("another student's notebook")
    cells = {"peek": ("import os\n"
                      "def peek(paths):\n"
                      "    return [os.path.exists(p) for p in paths]\n")}
    try:
        with _remote(cells) as impl:
            probes = [secret, tmp_path, secret.parents[1] / "README.md", secret.parents[1] / "solutions", "/home"]
            seen = impl.call("peek", [str(p) for p in probes])[0]
    finally:
        secret.unlink()
    assert seen == [False] * 5


def test_a_grader_failure_on_one_submission_is_reported_and_retried_next_run(tmp_path):
    from autograder.grading import grade_one_safely
    from autograder.records import GradingResult, GradingTask
    from dlcourse.course import TestCell

    path = _nb(tmp_path / "x.ipynb", [{"cell_type": "code", "source": "def p():\n    return 1\n", "metadata": {}}])
    task = GradingTask("x", "o", "0", "salt", (TestCell("test_p", "p", False, 1.0),), path=str(path),
                       timeout=10, sandbox="none")  # no checks for a part "p": the grader itself trips
    result = grade_one_safely(task)
    assert result.grader_error and not result.verdicts["test_p"].passed
    assert "could not grade this submission" in result.verdicts["test_p"].message
    assert GradingResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result  # as results/ keeps it
