"""Grading a class: `python -m autograder grade --jobs 2` (warm and cold sandboxes) vs stock nbgrader.

The submissions cycle through chapter 02's sample submissions (correct ones and one per common
mistake; no hostile ones, which stock nbgrader cannot survive). Printed, each a median of --runs:
- ours, warm sandboxes (the default as root) and cold ones (`--cold`), seconds per submission;
- stock serial `nbgrader autograde` on the same notebooks with their experiment cells removed
  (set-up, solution and test cells only: stock's fairest case), on all of them;
- stock on the whole notebooks, as an instructor using it alone would, on the first
  --stock-count of them (it executes every experiment: about 30 s each), in fast mode
  (DLCOURSE_FAST=1), which only flatters it;
then both ratios (stock / ours warm) and whether every score agrees. Run with `make bench-grading`.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sample_notebooks import fill_in, variants, write  # noqa: E402

CHAPTER = "02_dropout"
TARGET_PER_SUBMISSION = 1.2  # seconds, with --jobs 2 on the project's 2-core machine (issue 11)


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


def without_experiments(nb: dict) -> dict:
    """The notebook with only its set-up section's code, nbgrader's cells and the markdown: what grading needs."""
    kept, in_setup = [], False
    for cell in nb["cells"]:
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown" and source.startswith("## "):
            in_setup = source.startswith("## 1. Set-up")
        graded = bool(cell.get("metadata", {}).get("nbgrader"))
        if cell["cell_type"] == "markdown" or graded or in_setup:
            kept.append(cell)
    return dict(nb, cells=kept)


def strip_folder(folder: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for path in sorted(folder.glob("*.ipynb")):
        (target / path.name).write_text(json.dumps(without_experiments(json.loads(path.read_text()))))


def ours(folder: Path, out: Path, jobs: int, cold: bool) -> tuple[float, dict[str, float]]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", CHAPTER, str(folder), "--out", str(out),
                    "--jobs", str(jobs), *(["--cold"] if cold else [])],
                   cwd=ROOT, env=environment(), check=True, capture_output=True)
    seconds = time.perf_counter() - started
    with open(out / "grades.csv") as fh:
        return seconds, {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)}


def stock(folder: Path, course: Path, students: list[str]) -> tuple[float, dict[str, float]]:
    shutil.rmtree(course, ignore_errors=True)
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


def median_run(runs: int, measure) -> tuple[float, dict, list[float]]:
    """The median seconds of `runs` calls of measure() -> (seconds, scores), the scores, every time."""
    times, scores = [], []
    for _ in range(runs):
        seconds, found = measure()
        times.append(seconds)
        scores.append(found)
    assert all(found == scores[0] for found in scores), "the same submissions got different scores on a re-run"
    return statistics.median(times), scores[0], times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="submissions (default 50)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs of each of ours, median reported (default 3)")
    parser.add_argument("--stock-count", type=int, default=6,
                        help="submissions stock nbgrader runs whole (default 6: about 30 s each)")
    parser.add_argument("--stripped-count", type=int, default=None,
                        help="submissions stock nbgrader runs without experiments (default: all; about 9 s each)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        students = make_submissions(tmp / "submissions", args.count)
        strip_folder(tmp / "submissions", tmp / "stripped")
        warm, warm_scores, warm_times = median_run(args.runs, lambda: ours(tmp / "submissions", tmp / "warm", args.jobs, False))
        cold, cold_scores, cold_times = median_run(args.runs, lambda: ours(tmp / "submissions", tmp / "cold", args.jobs, True))
        some = students[:args.stripped_count or args.count]
        stripped, stripped_scores = stock(tmp / "stripped", tmp / "stock-stripped", some)
        few = students[:args.stock_count]
        whole, whole_scores = stock(tmp / "submissions", tmp / "stock-whole", few)
    n = args.count
    per = {"warm": warm / n, "cold": cold / n, "stripped": stripped / len(some), "whole": whole / len(few)}
    agree = (warm_scores == cold_scores and all(stripped_scores[s] == warm_scores[s] for s in some)
             and all(whole_scores[s] == warm_scores[s] for s in few))
    print(f"{n} submissions of {CHAPTER}, --jobs {args.jobs}; ours: median of {args.runs} runs")
    print(f"ours, warm sandboxes: {warm:.1f} s (runs {', '.join(f'{t:.1f}' for t in warm_times)}), "
          f"{per['warm']:.2f} s per submission (target <= {TARGET_PER_SUBMISSION}: "
          f"{'met' if per['warm'] <= TARGET_PER_SUBMISSION else 'missed'})")
    print(f"ours, cold sandboxes (--cold): {cold:.1f} s (runs {', '.join(f'{t:.1f}' for t in cold_times)}), "
          f"{per['cold']:.2f} s per submission")
    print(f"stock nbgrader autograde, experiment cells removed ({len(some)} of them): {stripped:.1f} s, "
          f"{per['stripped']:.2f} s per submission")
    print(f"stock nbgrader autograde, whole notebooks ({len(few)} of them): {whole:.1f} s, "
          f"{per['whole']:.2f} s per submission")
    print(f"scores agree: {'yes' if agree else 'no'}")
    print(f"warm vs cold: {per['cold'] / per['warm']:.2f}")
    print(f"ratio (stock without experiments / ours warm): {per['stripped'] / per['warm']:.2f}")
    print(f"ratio (stock whole / ours warm): {per['whole'] / per['warm']:.2f}")
    return {"per_submission": per, "agree": agree}


if __name__ == "__main__":
    main()
