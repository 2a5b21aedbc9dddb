"""The typed records of grading (autograder.records): a task, its result, and their wire formats."""
import json
import pickle

import pytest

from autograder import cluster, ledger
from autograder.records import MAX_MESSAGE, GradingResult, GradingTask, Outcome, cut
from dlcourse import course

TESTS = tuple(course.autograded_cells("02_dropout"))
TASK = GradingTask("ann", "ann.ipynb", "ab" * 32, "salt", TESTS, answers=("q_scaling",), path="/tmp/x/ann.ipynb",
                   problems=("a problem",), timeout=120.0, memory=4.0, sandbox="bwrap", forbidden=("dropout",),
                   mounts=(("/cache/etc/passwd", "/etc/passwd"),), warm=True)
# What crosses to a Dask worker, key for key: everything a verdict depends on, nothing of the instructor's disk.
WIRE_KEYS = {"student_id", "origin", "sha256", "salt", "tests", "answers", "problems", "unusable", "timeout", "memory",
             "sandbox", "forbidden", "warm", "notebook", "manifest", "fingerprint"}


def test_a_task_travels_as_plain_values_with_the_notebook_s_bytes_and_the_course_fingerprint():
    wire = TASK.to_wire(b'{"cells": []}', {"solutions": "abc"}, "f1ngerpr1nt")
    assert set(wire) == WIRE_KEYS
    assert wire["notebook"] == b'{"cells": []}' and wire["fingerprint"] == "f1ngerpr1nt"
    assert wire["tests"][0] == {"grade_id": "test_dropout_forward", "part": "dropout_forward", "hidden": False,
                                "points": TESTS[0].points}
    json.dumps({key: value for key, value in wire.items() if key != "notebook"})  # plain values only
    there = GradingTask.from_wire(wire, "/worker/tmp/submission.ipynb", [["/w/passwd", "/etc/passwd"]])
    assert there == GradingTask(**{**TASK.__dict__, "path": "/worker/tmp/submission.ipynb",
                                   "mounts": (("/w/passwd", "/etc/passwd"),)})
    assert all(there.seed(test) == TASK.seed(test) for test in TESTS)  # the same hidden inputs on the worker


def test_a_task_pickles_for_the_local_pool():
    assert pickle.loads(pickle.dumps(TASK)) == TASK


def test_each_test_s_seed_depends_on_the_salt_the_submission_and_the_test():
    seeds = {TASK.seed(test) for test in TESTS}
    assert len(seeds) == len(TESTS)
    other = GradingTask(**{**TASK.__dict__, "salt": "another"})
    assert not seeds & {other.seed(test) for test in TESTS}


def test_a_grader_failure_fails_every_test_and_is_graded_again():
    result = TASK.not_graded("the grader could not grade this submission (KeyError: 'x')")
    assert result.grader_error and result.passed == 0 and list(result.verdicts) == [t.grade_id for t in TESTS]
    assert result.verdicts["test_Dropout_hidden"].message.startswith("Dropout: the grader could not")
    assert result.problems == ["a problem", "the grader could not grade this submission (KeyError: 'x')"]
    assert len(TASK.all_failed("x" * 5000)["test_Dropout"].message) == MAX_MESSAGE + len(" ... (cut)")
    assert cut("short") == "short"


def test_a_result_round_trips_through_results_json():
    result = GradingResult("ann", "00", "ann.ipynb", cells=[("Dropout", "class Dropout: ...")], answers={"q": "<p>a</p>"},
                           verdicts={"test_Dropout": Outcome(True, "ok"), "test_Dropout_hidden": Outcome(False, "no")},
                           problems=["p"], seconds=1.5, cpu_seconds=1.0, worker_peak_mb=300,
                           receipts={"timestamp.txt": "2026-01-01 00:00:00 UTC"},
                           graded_on={"worker": "tcp://w:1", "host": "h", "course": "/c"})
    saved = json.loads(json.dumps(result.to_dict()))
    assert saved["verdicts"]["test_Dropout_hidden"] == {"passed": False, "message": "no"}  # the format tests read
    assert saved["cells"] == [["Dropout", "class Dropout: ..."]]
    assert GradingResult.from_dict(saved) == result and result.passed == 1


def test_a_result_of_an_earlier_run_reads_with_its_missing_figures_as_zero():
    old = {"student_id": "bob", "sha256": "1", "origin": "o", "cells": [], "verdicts": {}, "problems": ["x"],
           "seconds": 0.0, "grader_error": True}  # a failure, as results/ kept it before the records were typed
    result = GradingResult.from_dict(old)
    assert result.grader_error and result.answers == {} and result.receipts == {} and result.graded_on is None
    row = ledger.submission_row(result)
    assert row == {"student_id": "bob", "wall_seconds": 0.0, **{name: 0 for name in ledger.SUBMISSION_FIELDS[1:]}}
    assert all(type(row[name]) is int for name in ledger.SUBMISSION_FIELDS[1:])  # the ledger writes "0", as before


def test_shipping_reads_the_notebook_s_bytes_and_never_follows_a_link(tmp_path):
    notebook = tmp_path / "ann.ipynb"
    notebook.write_bytes(b'{"cells": []}')
    task = GradingTask(**{**TASK.__dict__, "path": str(notebook)})
    wire = cluster.shipped(task, {"m": "1"})
    assert wire["notebook"] == b'{"cells": []}' and wire["unusable"] is None
    assert wire["fingerprint"] == cluster.course_fingerprint({"m": "1"})
    (tmp_path / "link.ipynb").symlink_to(notebook)
    linked = cluster.shipped(GradingTask(**{**TASK.__dict__, "path": str(tmp_path / "link.ipynb")}), {"m": "1"})
    assert linked["notebook"] is None and "symbolic link" in linked["unusable"]


def test_a_worker_of_another_version_refuses_before_reading_the_task():
    wire = {"fingerprint": "0" * 16, "manifest": {"autograder": "another"}, "sandbox": "none"}  # nothing else it knows
    with pytest.raises(cluster.WorkerRefused, match="runs another version of the course"):
        cluster.grade_on_worker(wire)
