"""The nbgrader exchange, the whole cycle the README's "For instructors" describes, with real commands.

One instructor and two students, each with a home of their own, share an exchange in tmp_path:
the instructor generates and releases chapter 04 from its source notebook; each student fetches
it, writes answers into the fetched notebook (one correct, one with a mistake) and submits; the
instructor collects, grades `submitted/` with `python -m autograder grade` (real sandbox), and
releases the grader's feedback as README step 5 says; each student's `fetch_feedback` then finds
its own page, with the scores and the diagnosis the grader gave.

The unit tests at the end cover what the grader reads from nbgrader's `submitted/` layout.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import sandbox, submissions
from autograder.grading import autograded_cells
from sample_notebooks import ROOT, expected, variants

CHAPTER = "04_initialization"
COURSE_ID = "dl101"
STUDENTS = {"alice": "correct_math", "bob": "mistake_fans_swapped"}  # exchange user name: sample answer
DIAGNOSIS = "fan_in and fan_out are swapped"                        # what bob's mistake must be told
BIN = Path(sys.executable).parent                                    # nbgrader shells out to `alembic`


@contextlib.contextmanager
def timed(step: str):
    """Print how long a step of the cycle took (run pytest with -s to see them)."""
    started = time.monotonic()
    yield
    print(f"[exchange] {step}: {time.monotonic() - started:.1f} s")


def write_config(path: Path, **settings: str) -> None:
    """An nbgrader_config.py setting `Section.trait = value` for each `Section__trait=value`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["c = get_config()"] + [f"c.{key.replace('__', '.')} = {value!r}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")


class Person:
    """Someone at a terminal: their own HOME and Jupyter folders, so nothing leaks between them."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        """This person's environment: the venv first on PATH, Jupyter's folders inside their home."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))}
        return dict(env, HOME=str(self.home), PATH=f"{BIN}{os.pathsep}{env['PATH']}",
                    JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"),
                    JUPYTER_DATA_DIR=str(self.home / ".local" / "share" / "jupyter"),
                    JUPYTER_RUNTIME_DIR=str(self.home / ".local" / "share" / "jupyter" / "runtime"))

    def start(self, *command: str, cwd: Path | None = None) -> subprocess.Popen:
        """Start a command in this person's environment (in their home unless `cwd` says otherwise)."""
        return subprocess.Popen(list(command), cwd=cwd or self.home, env=self.env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(*started: subprocess.Popen, timeout: float = 600) -> list[str]:
    """Wait for commands started together; fail naming the first that did not exit 0; return their logs."""
    logs = []
    for process in started:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"{' '.join(process.args)} exited {process.returncode}:\n{out[-3000:]}\n{err[-3000:]}"
        logs.append(out + err)
    return logs


def nbgrader(person: Person, *args: str, cwd: Path | None = None) -> str:
    """Run one `nbgrader` command as `person` and return its log."""
    return finish(person.start(str(BIN / "nbgrader"), *args, cwd=cwd))[0]


def answer(notebook: Path, code: dict[str, str]) -> None:
    """Write a student's code into the solution cells of the notebook they fetched, as they would in Jupyter."""
    nb = json.loads(notebook.read_text())
    written = set()
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in code:
            cell["source"] = code[meta["grade_id"]]
            written.add(meta["grade_id"])
    assert written == set(code), f"{notebook}: no solution cell for {sorted(set(code) - written)}"
    notebook.write_text(json.dumps(nb, indent=1))


def feedback_scores(html: str) -> dict[str, tuple[float, float]]:
    """{cell grade_id: (score, points)} from the table of contents of an nbgrader feedback page."""
    cells = re.findall(r'<a href="#(\w+)">[^<]*</a> \(Score: ([\d.]+) / ([\d.]+)\)', html)
    return {grade_id: (float(score), float(points)) for grade_id, score, points in cells}


def instructor_course(tmp_path: Path, exchange: Path) -> Path:
    """The instructor's nbgrader course: its config (course id, exchange) and the chapter's source notebook."""
    course = tmp_path / "course"
    write_config(course / "nbgrader_config.py", CourseDirectory__course_id=COURSE_ID,
                 CourseDirectory__root=str(course), Exchange__root=str(exchange))
    source = course / "source" / CHAPTER
    source.mkdir(parents=True)
    (source / f"{CHAPTER}.ipynb").write_bytes((ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb").read_bytes())
    return course


def student(tmp_path: Path, name: str, exchange: Path) -> Person:
    """A student's home with their nbgrader config in ~/.jupyter.

    On a JupyterHub the exchange names each student by their login; these run as one OS user,
    so each config names its student (nbgrader's CourseDirectory.student_id, for exactly that).
    """
    person = Person(tmp_path / "homes" / name)
    write_config(person.home / ".jupyter" / "nbgrader_config.py", CourseDirectory__course_id=COURSE_ID,
                 CourseDirectory__student_id=name, Exchange__root=str(exchange))
    return person


@pytest.mark.lab
@pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)")
def test_release_fetch_submit_collect_grade_and_feedback_through_the_exchange(tmp_path):
    started = time.monotonic()
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # as nbgrader's docs set it up: every user may write into the exchange
    course = instructor_course(tmp_path, exchange)
    instructor = Person(tmp_path / "homes" / "instructor")
    students = {name: student(tmp_path, name, exchange) for name in STUDENTS}
    notebook = f"{CHAPTER}.ipynb"

    # 1. The instructor generates the student version and releases it to the exchange.
    with timed("generate_assignment + release_assignment"):
        nbgrader(instructor, "generate_assignment", CHAPTER, cwd=course)
        nbgrader(instructor, "release_assignment", CHAPTER, cwd=course)
    released = exchange / COURSE_ID / "outbound" / CHAPTER / notebook
    assert released.is_file(), f"release_assignment left no {released}"
    assert "### BEGIN SOLUTION" not in released.read_text() and "BEGIN HIDDEN TESTS" not in released.read_text()

    # 2. Each student fetches it, writes into the fetched notebook and submits (both at once).
    with timed("fetch_assignment (2 students)"):
        finish(*(s.start(str(BIN / "nbgrader"), "fetch_assignment", CHAPTER) for s in students.values()))
    for name, person in students.items():
        fetched = person.home / CHAPTER / notebook
        assert fetched.read_bytes() == released.read_bytes(), f"{name}: fetched notebook differs from the release"
        answer(fetched, variants(CHAPTER)[STUDENTS[name]])
    with timed("submit (2 students)"):
        finish(*(s.start(str(BIN / "nbgrader"), "submit", CHAPTER) for s in students.values()))
    inbound = sorted(p.name.split("+")[0] for p in (exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == sorted(STUDENTS), f"the exchange's inbound holds {inbound}"

    # 3. The instructor collects, then grades `submitted/` with the course's grader.
    with timed("collect"):
        nbgrader(instructor, "collect", CHAPTER, cwd=course)
    for name in STUDENTS:
        folder = course / "submitted" / name / CHAPTER
        assert sorted(p.name for p in folder.iterdir()) == sorted([notebook, *submissions.EXCHANGE_RECEIPTS]), folder
    out = tmp_path / "grading"

    def grade_command() -> None:
        finish(instructor.start(sys.executable, "-m", "autograder", "grade", CHAPTER, str(course / "submitted"),
                                "--out", str(out), "--jobs", "2", cwd=ROOT))

    with timed("python -m autograder grade --jobs 2"):
        grade_command()
    with open(out / "grades.csv") as fh:
        grades = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert sorted(grades) == sorted(STUDENTS), f"grades.csv names {sorted(grades)}, the exchange {sorted(STUDENTS)}"
    points = {cell.grade_id: cell.points for cell in autograded_cells(CHAPTER)}
    want = {name: {cell: points[cell] if passes else 0.0 for cell, passes in expected(CHAPTER)[sample].items()}
            for name, sample in STUDENTS.items()}
    assert all(want["alice"][cell] == points[cell] for cell in points)  # the correct sample passes everything
    for name in STUDENTS:
        assert {cell: float(grades[name][cell]) for cell in points} == want[name], (name, grades[name])

    # 4. README step 5: release the grader's feedback through the exchange, from the course directory.
    with timed("release_feedback"):
        nbgrader(instructor, "release_feedback", CHAPTER, f"--CourseDirectory.root={out / 'nbgrader'}", cwd=course)
    released_feedback = sorted((exchange / COURSE_ID / "feedback").glob("*.html"))
    assert len(released_feedback) == len(STUDENTS), f"released feedback: {released_feedback}"

    # 5. Each student fetches their own feedback: the grader's page, with its scores and diagnosis.
    with timed("fetch_feedback (2 students)"):
        finish(*(s.start(str(BIN / "nbgrader"), "fetch_feedback", CHAPTER) for s in students.values()))
    for name, person in students.items():
        pages = list((person.home / CHAPTER / "feedback").glob(f"*/{CHAPTER}.html"))
        assert len(pages) == 1, f"{name}: fetch_feedback found {pages}"
        timestamp = (course / "submitted" / name / CHAPTER / "timestamp.txt").read_text().strip()
        assert pages[0].parent.name == timestamp, f"{name}: feedback filed under {pages[0].parent.name}"
        html = pages[0].read_text()
        assert html == (out / "feedback" / name / f"{CHAPTER}.html").read_text(), f"{name}: not the grader's page"
        assert {cell: score for cell, (score, _) in feedback_scores(html).items() if cell in points} == want[name]
        total = re.search(rf"{CHAPTER} \(Score: ([\d.]+) / ([\d.]+)\)", html)
        assert total and tuple(map(float, total.groups())) == (float(grades[name]["score"]), float(grades[name]["max_score"]))
        assert (DIAGNOSIS in html) == (name == "bob"), f"{name}: the diagnosis of bob's mistake"
        assert "BEGIN HIDDEN TESTS" not in html

    # 6. README steps 5 and 6: a written answer graded by hand, `grade` again, released again.
    comment = "Graded by hand: see the symmetry argument in chapter 04."
    grade_by_hand(out, "alice", "q_symmetry", score=1.0, comment=comment)
    with timed("grade again + release_feedback + fetch_feedback"):
        grade_command()
        nbgrader(instructor, "release_feedback", CHAPTER, f"--CourseDirectory.root={out / 'nbgrader'}", cwd=course)
        nbgrader(students["alice"], "fetch_feedback", CHAPTER)
    html = next((students["alice"].home / CHAPTER / "feedback").glob(f"*/{CHAPTER}.html")).read_text()
    assert comment in html and feedback_scores(html)["q_symmetry"] == (1.0, 1.0), "alice's updated feedback"
    print(f"[exchange] whole cycle: {time.monotonic() - started:.1f} s")


def grade_by_hand(out: Path, student_id: str, grade_id: str, score: float, comment: str) -> None:
    """Score and comment a written answer in the grader's gradebook, as the formgrader would."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(CHAPTER, CHAPTER, student_id)
        next(g for g in notebook.grades if g.name == grade_id).manual_score = score
        next(c for c in notebook.comments if c.name == grade_id).manual_comment = comment
        gradebook.db.commit()


# -- what the grader reads from nbgrader's submitted/ --------------------------------------------

def _submitted(folder: Path, student: str, assignment: str, timestamp: str = "2026-01-05 09:30:00.123456 UTC",
               secret: str = "ab" * 64) -> Path:
    """A submission as `nbgrader collect` lays it out: the notebook and submit's two receipts."""
    target = folder / student / assignment
    target.mkdir(parents=True)
    (target / f"{assignment}.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (target / "timestamp.txt").write_text(timestamp)
    (target / "submission_secret.txt").write_text(secret)
    return target


def test_submitted_folder_keeps_each_receipt_and_ignores_other_assignments(tmp_path):
    """A course's submitted/ holds every assignment collected so far: only this one's is graded,
    each with the exact receipts nbgrader needs to release its feedback."""
    _submitted(tmp_path, "alice", "02_dropout")
    _submitted(tmp_path, "alice", "03_batchnorm")
    _submitted(tmp_path, "bob", "03_batchnorm")  # bob has not handed in 02: no row for him
    subs = submissions.collect([tmp_path], "02_dropout")
    assert [s.student_id for s in subs] == ["alice"]
    assert subs[0].problems == []
    assert subs[0].receipts == {"timestamp.txt": "2026-01-05 09:30:00.123456 UTC", "submission_secret.txt": "ab" * 64}


def test_receipts_nbgrader_could_not_use_are_left_out_and_the_notebook_still_graded(tmp_path):
    """A student can write the receipts: a malformed timestamp would stop nbgrader autograde for
    the batch, and a link is never followed; each is left out with the reason."""
    _submitted(tmp_path, "alice", "02_dropout", timestamp="2026-13-45 99:00:00 UTC")
    _submitted(tmp_path, "bob", "02_dropout", secret="../../etc/passwd")
    carol = _submitted(tmp_path, "carol", "02_dropout")
    (carol / "timestamp.txt").unlink()
    (carol / "timestamp.txt").symlink_to("/etc/hostname")
    subs = {s.student_id: s for s in submissions.collect([tmp_path], "02_dropout")}
    assert all(s.unusable is None for s in subs.values())
    assert list(subs["alice"].receipts) == ["submission_secret.txt"]
    assert list(subs["bob"].receipts) == ["timestamp.txt"]
    assert list(subs["carol"].receipts) == ["submission_secret.txt"]
    assert "timestamp.txt left out" in subs["alice"].problems[0] and "symbolic link" in subs["carol"].problems[0]
    assert "submission_secret.txt left out" in subs["bob"].problems[0]
