"""The cost ledger: what each graded submission cost (wall time, CPU time, peak memory), run after run.

`grading.grade` calls `record` once per run. It appends one row per submission graded in that
run to OUT/ledger.csv (a run that resumes adds rows, never rewrites old ones) and returns the
run's figures and a one-line summary, which the `grade` command prints last. The same figures
feed the planner (`autograder.plan`).

The figures of one submission (a `GradingResult`'s, also in OUT/results/<student>.json):
  wall_seconds         its whole grading, reading to last check (the result's `seconds`)
  cpu_seconds          checker + reader + worker CPU time
  checker_cpu_seconds  the checks, in the grader's pool process
  reader_cpu_seconds   the confined child that read the notebook
  worker_cpu_seconds   the sandboxed worker's whole process tree, every restart included
  worker_peak_mb       the student's worker's peak resident memory (torch alone is a few hundred MB)
  grader_peak_mb, reader_peak_mb   the grader's own processes' peaks (as before)
A run's figures, repeated on each of its rows: its id and start time, --jobs, how many it
graded, its wall time, and the bookkeeping's (nbgrader autograde and feedback, serial, once per run).
"""
from __future__ import annotations

import csv
import secrets
import statistics
import time
from pathlib import Path

from autograder.records import GradingResult

LEDGER = "ledger.csv"
SUBMISSION_FIELDS = ["wall_seconds", "cpu_seconds", "checker_cpu_seconds", "reader_cpu_seconds",
                     "worker_cpu_seconds", "worker_peak_mb", "grader_peak_mb", "reader_peak_mb"]
COLUMNS = (["run_id", "run_started", "assignment", "jobs", "student_id"] + SUBMISSION_FIELDS
           + ["run_submissions", "run_wall_seconds", "run_bookkeeping_seconds"])


def submission_row(result: GradingResult) -> dict:
    """The ledger's figures of one graded submission (0 for what a failed grading did not measure)."""
    row = {name: getattr(result, name) for name in SUBMISSION_FIELDS[1:]}
    return {"student_id": result.student_id, "wall_seconds": result.seconds, **row}


def record(out: Path, assignment: str, results: list[GradingResult], jobs: int, bookkeeping_seconds: float,
           wall_seconds: float) -> dict:
    """Append this run's rows to OUT/ledger.csv; return the run's figures with its `summary` line."""
    run = {"run_id": f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}",
           "run_started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() - wall_seconds)),
           "assignment": assignment, "jobs": jobs, "run_submissions": len(results),
           "run_wall_seconds": round(wall_seconds, 2), "run_bookkeeping_seconds": round(bookkeeping_seconds, 2)}
    rows = [{**run, **submission_row(result)} for result in results]
    path = out / LEDGER
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)
    return {**run, "rows": rows, "summary": summary(rows, bookkeeping_seconds, wall_seconds)}


def read(out: Path) -> list[dict]:
    """Every row of OUT/ledger.csv, numbers as floats (for the planner and for tests)."""
    path = out / LEDGER
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str):
    """A ledger cell as a float where it is one, else the text."""
    try:
        return float(text)
    except ValueError:
        return text


def summary(rows: list[dict], bookkeeping_seconds: float, wall_seconds: float) -> str:
    """One line: graded, slowest (who, s), median, total wall and CPU, bookkeeping, seconds per submission."""
    if not rows:
        return f"cost: no submission graded this run; bookkeeping {bookkeeping_seconds:.1f} s, run {wall_seconds:.1f} s"
    walls = [row["wall_seconds"] for row in rows]
    slowest = max(rows, key=lambda row: row["wall_seconds"])
    return (f"cost: {len(rows)} graded; slowest {slowest['student_id']} {slowest['wall_seconds']:.1f} s, "
            f"median {statistics.median(walls):.1f} s; total {sum(walls):.1f} s wall, "
            f"{sum(row['cpu_seconds'] for row in rows):.1f} s CPU; worker peak "
            f"{max(row['worker_peak_mb'] for row in rows)} MB; bookkeeping (nbgrader autograde + feedback) "
            f"{bookkeeping_seconds:.1f} s; run {wall_seconds:.1f} s = {wall_seconds / len(rows):.2f} s per submission "
            f"(ledger: {LEDGER})")
