"""Grading 50 submissions: `python -m autograder grade --jobs 2` vs stock serial `nbgrader autograde`.

The 50 submissions cycle through chapter 02's sample submissions (correct ones and one per
common mistake; no hostile ones, which stock nbgrader cannot survive). Stock nbgrader executes
each whole notebook in a kernel, as an instructor using it alone would; it runs them in fast mode
(DLCOURSE_FAST=1), which only makes it faster than it would be for real. Prints seconds per
submission for both, `ratio: X.XX` (stock / ours) and whether every student's score agrees.
Run with `make bench-grading`.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sample_notebooks import fill_in, variants, write  # noqa: E402

CHAPTER = "02_dropout"


def environment() -> dict[str, str]:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def make_submissions(folder: Path, count: int) -> list[str]:
    samples = variants(CHAPTER)
    names = sorted(samples)
    students = []
    for i in range(count):
        name = names[i % len(names)]
        student = f"s{i:03d}_{name}"
        write(fill_in(CHAPTER, samples[name]), folder / f"{student}.ipynb")
        students.append(student)
    return students


def ours(folder: Path, out: Path, jobs: int) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", CHAPTER, str(folder), "--out", str(out),
                    "--jobs", str(jobs)], cwd=ROOT, env=environment(), check=True, capture_output=True)
    seconds = time.perf_counter() - started
    with open(out / "grades.csv") as fh:
        return seconds, {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)}


def stock(folder: Path, course: Path, students: list[str]) -> tuple[float, dict[str, float]]:
    (course / "source" / CHAPTER).mkdir(parents=True)
    shutil.copy2(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", course / "source" / CHAPTER)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.ExecutePreprocessor.timeout = 300\n")
    env = dict(environment(), DLCOURSE_FAST="1", PYTHONPATH=str(ROOT))
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", CHAPTER, "--force"], cwd=course, env=env, check=True, capture_output=True)
    for student in students:
        target = course / "submitted" / student / CHAPTER
        target.mkdir(parents=True)
        shutil.copy2(folder / f"{student}.ipynb", target / f"{CHAPTER}.ipynb")
    started = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", CHAPTER], cwd=course, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission(CHAPTER, s).score for s in students}
    return seconds, scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        students = make_submissions(tmp / "submissions", args.count)
        our_seconds, our_scores = ours(tmp / "submissions", tmp / "ours", args.jobs)
        stock_seconds, stock_scores = stock(tmp / "submissions", tmp / "stock", students)
    agree = our_scores == stock_scores
    disagreements = {s: (our_scores.get(s), stock_scores.get(s)) for s in students if our_scores.get(s) != stock_scores.get(s)}
    print(f"{args.count} submissions of {CHAPTER}")
    print(f"ours (--jobs {args.jobs}, sandboxed): {our_seconds:.1f} s, {our_seconds / args.count:.2f} s per submission")
    print(f"stock nbgrader autograde (serial): {stock_seconds:.1f} s, {stock_seconds / args.count:.2f} s per submission")
    print(f"scores agree: {'yes' if agree else 'no'}" + ("" if agree else f" {disagreements}"))
    print(f"ratio: {stock_seconds / our_seconds:.2f}")
    return {"ours": our_seconds, "stock": stock_seconds, "agree": agree}


if __name__ == "__main__":
    main()
