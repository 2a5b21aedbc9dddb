"""The batch's nbgrader commands run as several processes, each told exactly whom to leave out."""
from autograder import grading


def test_each_student_is_in_exactly_one_share_and_every_other_is_excluded(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(grading, "_run_nbgrader", lambda course, *args, notebooks=1: calls.append((args, notebooks)))
    everyone = [f"s{i:02d}" for i in range(7)] + ["graded_before"]
    grading._run_nbgrader_shared(tmp_path, "generate_feedback", "02_dropout", everyone[:7], everyone, jobs=3)
    assert len(calls) == 3
    handled = []
    for (command, assignment, exclude), notebooks in calls:
        assert (command, assignment) == ("generate_feedback", "02_dropout")
        excluded = set(exclude.removeprefix("--CourseDirectory.student_id_exclude=").split(","))
        share = set(everyone) - excluded
        assert len(share) == notebooks and "graded_before" not in share
        handled += share
    assert sorted(handled) == everyone[:7]  # each once


def test_one_job_or_one_student_runs_a_single_plain_command(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(grading, "_run_nbgrader", lambda course, *args, notebooks=1: calls.append(args))
    grading._run_nbgrader_shared(tmp_path, "autograde", "04_initialization", ["a", "b"], ["a", "b", "c"], jobs=1)
    grading._run_nbgrader_shared(tmp_path, "autograde", "04_initialization", ["a"], ["a", "b", "c"], jobs=4)
    assert calls == [("autograde", "04_initialization"), ("autograde", "04_initialization")]
