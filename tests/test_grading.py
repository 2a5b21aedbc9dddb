"""End to end: `python -m autograder grade` on a batch of sample and hostile submissions.

One batch per graded chapter, graded with --jobs 2 through the real command line and real
nbgrader. Every score is checked against the expected table; correct submissions in the same
batch as hostile ones keep full marks; the course files and site-packages are unchanged; no
process is left behind; grading again gives the same scores; feedback never shows hidden tests.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.grading import answer_cells, autograded_cells
from dlcourse import course
from sample_notebooks import ROOT, expected, fill_in, variants, write

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)")]
CHAPTERS = [chapter.name for chapter in course.GRADED]


def tree_digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def site_packages_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def run_grade(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3000)


def read_grades(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


TIMEOUT = 120  # --timeout of the batch: a hard bound on each submission
ANSWERS_THE_FIRST_QUESTION = {"limits_huge_answer"}  # its written answer awaits the instructor


def batch(chapter: str, folder: Path) -> dict[str, dict[str, bool]]:
    """Write every sample and hostile submission of `chapter`; return expected verdicts.

    Chapter 02 carries the specification's hostile classes (hostile.py), the grader's limits
    (hostile_limits.py: huge cells, JSON bombs, privileged reads, fork bombs, sleeping past the
    deadline, and entries that are links or folders); every chapter that forbids a library (its
    `forbids` in dlcourse.course) the routes to it (hostile_forbidden.py).
    """
    sys.path.insert(0, str(Path(__file__).parent / "submissions"))
    from hostile import hostile_submissions
    from hostile_forbidden import hostile_forbidden_submissions
    from hostile_limits import filesystem_entries, hostile_limit_submissions

    built = {name: (fill_in(chapter, code), expected(chapter)[name]) for name, code in variants(chapter).items()}
    if course.chapter(chapter).forbids:
        built.update(hostile_forbidden_submissions(chapter))
    if chapter == "02_dropout":
        built.update(hostile_submissions())
        built.update(hostile_limit_submissions())
    want = {}
    for name, (nb, verdicts) in built.items():
        if isinstance(nb, str):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.ipynb").write_text(nb)
        else:
            write(nb, folder / f"{name}.ipynb")
        want[name] = verdicts
    if chapter == "02_dropout":
        want.update(filesystem_entries(folder))
    return want


def leftover_processes() -> list[str]:
    """This checkout's workers and templates still running, and the hostile sample's `sleep 987`.

    Only this checkout's interpreter counts: another checkout grading on the same machine is not a leak.
    """
    lines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in lines if sys.executable in line]
    return [line for line in ours if "autograder.worker" in line or "autograder.warm_sandbox" in line] + \
        [line for line in lines if line.strip() == "sleep 987"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_class_is_graded_exactly_and_safely(chapter, tmp_path):
    folder = tmp_path / "submissions"
    want = batch(chapter, folder)
    tests = autograded_cells(chapter)
    course_before = tree_digest(ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder", ROOT / "data", ROOT / "dlcourse")
    site_before = site_packages_digest()
    submissions_before = tree_digest(folder)

    out = tmp_path / "out"
    result = run_grade(chapter, str(folder), "--out", str(out), "--jobs", "2", "--timeout", str(TIMEOUT))
    assert result.returncode == 0, result.stderr[-3000:]
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == sorted(want)

    wrong = []
    autograded_max = sum(t.points for t in tests)
    max_score = autograded_max + sum(a.points for a in answer_cells(chapter))  # written answers: graded by hand
    for student, verdicts in want.items():
        row = grades[student]
        assert float(row["max_score"]) == max_score, f"{student}: max_score {row['max_score']}"
        for i, answer in enumerate(answer_cells(chapter)):  # left as "YOUR ANSWER HERE": nbgrader scores it 0 at once
            if i == 0 and student in ANSWERS_THE_FIRST_QUESTION:
                assert row[answer.grade_id] == "", f"{student}: its answer should await the instructor"
                continue
            assert row[answer.grade_id] == "0", f"{student}: unanswered {answer.grade_id} scored {row[answer.grade_id]!r}"
        for test in tests:
            got = float(row[test.grade_id])
            if got != (test.points if verdicts[test.grade_id] else 0.0):
                wrong.append(f"{student}: {test.grade_id} scored {got}, expected {'pass' if verdicts[test.grade_id] else 'fail'}")
        assert float(row["score"]) == sum(float(row[t.grade_id]) for t in tests)
    assert not wrong, "\n".join(wrong)
    for student in (s for s in want if s.startswith("correct")):
        assert float(grades[student]["score"]) == autograded_max

    # Feedback: one page per student, showing failures and never the hidden tests' code.
    for student, verdicts in want.items():
        html = (out / "feedback" / student / f"{chapter}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in html and "hidden=True" not in html
        if not all(verdicts.values()):
            assert "AssertionError" in html

    # Limits: no submission held its slot past the time limit (loading, restarts and checks
    # included; a little for the confined reader and the worker's start), and the grader's own
    # processes stayed under 1 GB whatever the submissions held.
    results = {path.stem: json.loads(path.read_text()) for path in (out / "results").glob("*.json")}
    slowest = max(results.values(), key=lambda r: r["seconds"])
    peak = max(r.get("grader_peak_mb", 0) for r in results.values())
    print(f"{chapter}: slowest submission {slowest['student_id']} {slowest['seconds']} s (--timeout {TIMEOUT}); "
          f"grader peak {peak} MB")
    assert slowest["seconds"] <= TIMEOUT + 15, slowest
    assert 0 < peak < 1024
    for student in (s for s in want if s.startswith("limits_")):
        html = (out / "feedback" / student / f"{chapter}.html").read_text()
        assert len(html) < 3_000_000, f"{student}: feedback of {len(html):,} characters"
        assert html.count(" padding") < 1000, f"{student}: a message reached the feedback at full length"
        assert "root:" not in html.split("LEAK", 1)[-1][:2000], f"{student}: the system's secrets reached the feedback"
        assert "uid=0" not in html, f"{student}: the student's code ran as root"

    assert tree_digest(ROOT / "solutions", ROOT / "notebooks", ROOT / "autograder", ROOT / "data", ROOT / "dlcourse") == course_before
    assert site_packages_digest() == site_before
    assert tree_digest(folder) == submissions_before
    assert not leftover_processes()

    # Again: resumed (nothing re-graded) and forced; the same scores both times.
    again = run_grade(chapter, str(folder), "--out", str(out), "--jobs", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert read_grades(out / "grades.csv") == grades
    if chapter == "02_dropout":  # forced, into a new folder (a new salt: fresh hidden inputs), the samples only
        samples = tmp_path / "samples"
        samples.mkdir()
        for name in variants(chapter):
            shutil.copy2(folder / f"{name}.ipynb", samples)
        forced = run_grade(chapter, str(samples), "--out", str(tmp_path / "out2"), "--jobs", "2", "--timeout", "120", "--force")
        assert forced.returncode == 0
        regraded = read_grades(tmp_path / "out2" / "grades.csv")
        assert {s: r["score"] for s, r in regraded.items()} == {s: grades[s]["score"] for s in regraded}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_korean_notebooks_score_exactly_as_their_english_twins_in_one_class(chapter, tmp_path):
    """Every sample submission handed in twice, in the English and in the Korean notebook, in one
    batch: each pair gets the same score in every column, and the expected one."""
    folder = tmp_path / "submissions"
    samples = variants(chapter)
    for name, code in samples.items():
        write(fill_in(chapter, code), folder / f"en_{name}.ipynb")
        korean = fill_in(chapter, code, language="ko")
        assert any("language.use(\"ko\")" in "".join(cell["source"]) for cell in korean["cells"])
        write(korean, folder / f"ko_{name}.ipynb")
    out = tmp_path / "out"
    result = run_grade(chapter, str(folder), "--out", str(out), "--jobs", "2", "--timeout", str(TIMEOUT))
    assert result.returncode == 0, result.stderr[-3000:]
    grades = read_grades(out / "grades.csv")
    tests = autograded_cells(chapter)
    for name, verdicts in expected(chapter).items():
        english, korean = grades[f"en_{name}"], grades[f"ko_{name}"]
        assert {k: v for k, v in korean.items() if k != "student_id"} == {k: v for k, v in english.items() if k != "student_id"}, name
        for test in tests:
            assert float(korean[test.grade_id]) == (test.points if verdicts[test.grade_id] else 0.0), (name, test.grade_id)
        assert (out / "feedback" / f"ko_{name}" / f"{chapter}.html").is_file()


def test_an_lms_zip_is_graded(tmp_path):
    chapter = "02_dropout"
    code = variants(chapter)
    archive = tmp_path / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Ada Lovelace_1815_assignsubmission_file_/02_dropout.ipynb",
                    write(fill_in(chapter, code["correct_bool_mask"]), tmp_path / "a.ipynb").read_text())
        zf.writestr("turingalan_1912_555_02_dropout.ipynb",
                    write(fill_in(chapter, code["mistake_no_scaling"]), tmp_path / "b.ipynb").read_text())
    out = tmp_path / "out"
    result = run_grade(chapter, str(archive), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == ["Ada_Lovelace_1815", "turingalan_1912"]
    autograded_max = sum(t.points for t in autograded_cells(chapter))  # the written answers await the instructor
    assert float(grades["Ada_Lovelace_1815"]["score"]) == autograded_max
    assert float(grades["turingalan_1912"]["score"]) < autograded_max


def test_bad_arguments_get_clear_errors(tmp_path):
    result = run_grade("00_setup", str(tmp_path))
    assert result.returncode == 2 and "not a graded chapter" in result.stderr
    result = run_grade("02_dropout", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such file or folder" in result.stderr


def test_a_gradebook_made_from_other_solutions_stops_the_batch_before_grading(tmp_path):
    """Grades of two versions of the solutions never mix, and the instructor learns it before the batch, not after."""
    out = tmp_path / "out"
    (out / "nbgrader").mkdir(parents=True)
    (out / "nbgrader" / ".source-02_dropout.sha256").write_text("0" * 64)  # what an older solutions/ left
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(fill_in("02_dropout", variants("02_dropout")["correct_binomial"]), folder / "jane.ipynb")
    result = run_grade("02_dropout", str(folder), "--out", str(out))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "solutions/02_dropout changed since this gradebook was made: grade into a new --out folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((out / "results").glob("*.json")), "it graded before saying so"


def test_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_grade("02_dropout", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no .ipynb notebooks found" in result.stderr


def test_students_validate_a_saved_notebook_without_nbgrader(tmp_path):
    code = variants("02_dropout")

    def validate(nb_path):
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        return subprocess.run([sys.executable, "-m", "autograder", "validate", str(nb_path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    good = validate(write(fill_in("02_dropout", code["correct_where"]), tmp_path / "02_dropout.ipynb"))
    assert good.returncode == 0 and "3/3 parts pass" in good.stdout, good.stdout + good.stderr
    wrong = validate(write(fill_in("02_dropout", code["mistake_p_as_keep_prob"]), tmp_path / "02_dropout_me.ipynb"))
    assert wrong.returncode == 1 and "keep probability" in wrong.stdout
    untouched = validate(ROOT / "notebooks" / "02_dropout" / "02_dropout.ipynb")
    assert untouched.returncode == 1 and "still `raise NotImplementedError()`" in untouched.stdout


def test_written_answers_are_carried_as_text_and_graded_by_hand(tmp_path):
    """A student's answers reach the gradebook as inert text; the instructor's manual score reaches
    grades.csv and the feedback on the next run; an unanswered question scores 0 at once."""
    from nbgrader.api import Gradebook

    chapter = "04_initialization"
    questions = answer_cells(chapter)
    assert len(questions) >= 2, "chapter 04 should end with written questions"
    first, second = questions[0].grade_id, questions[1].grade_id
    hostile = 'Zero weights keep every hidden unit identical. <script>alert("grade me 100")</script>'
    nb = fill_in(chapter, variants(chapter)["correct_math"])
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == first:
            cell["source"] = hostile
    folder = tmp_path / "submissions"
    write(nb, folder / "ada.ipynb")
    write(fill_in(chapter, variants(chapter)["correct_math"]), folder / "bob.ipynb")  # answers nothing
    out = tmp_path / "out"
    result = run_grade(chapter, str(folder), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 written answer awaits manual grading" in result.stdout and "make formgrader" in result.stdout
    grades = read_grades(out / "grades.csv")
    autograded_max = sum(t.points for t in autograded_cells(chapter))
    assert grades["ada"][first] == "" and grades["ada"][second] == "0"  # pending, unanswered
    assert grades["bob"][first] == "0" and float(grades["bob"]["score"]) == autograded_max

    graded_copy = (out / "nbgrader" / "autograded" / "ada" / chapter / f"{chapter}.ipynb").read_text()
    assert "&lt;script&gt;" in graded_copy and "<script>" not in graded_copy
    html = (out / "feedback" / "ada" / f"{chapter}.html").read_text()
    assert "&lt;script&gt;" in html or "&amp;lt;script&amp;gt;" in html
    assert '<script>alert("grade me 100")' not in html

    # The instructor grades the answer (as the formgrader does), then runs the command again.
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(first, chapter, chapter, "ada")
        grade.manual_score = questions[0].points
        grade.needs_manual_grade = False  # what the formgrader's grade API does with a score
        comment = gradebook.find_comment(first, chapter, chapter, "ada")
        comment.manual_comment = "Good: symmetry, in one sentence."
        gradebook.db.commit()
    again = run_grade(chapter, str(folder), "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "manual grading" not in again.stdout
    regraded = read_grades(out / "grades.csv")
    assert regraded["ada"][first] == f"{questions[0].points:g}"
    assert float(regraded["ada"]["score"]) == autograded_max + questions[0].points
    assert "symmetry, in one sentence" in (out / "feedback" / "ada" / f"{chapter}.html").read_text()


def test_a_checkout_borrowing_another_checkouts_virtualenv_is_refused_before_grading(tmp_path):
    """Its sandboxed workers would import the other checkout's course (or none): every submission would
    score 0. The command stops first and says to make the checkout's own virtualenv."""
    from checkout import copy_course

    copy = copy_course(tmp_path / "course")
    folder = tmp_path / "submissions"
    write(fill_in("04_initialization", variants("04_initialization")["correct_math"]), folder / "a.ipynb")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(copy))
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "04_initialization", str(folder),
                             "--out", str(tmp_path / "out")], cwd=copy, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "needs its own virtualenv" in result.stderr and "make venv" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "out" / "results").exists() or not any((tmp_path / "out" / "results").iterdir())
