"""Grading throughput on a Dask cluster of 1 and 2 workers, against local `--jobs 1` and `--jobs 2`.

On this machine: a real `dask scheduler` and `dask worker` processes (one thread each, as the
README tells an instructor to start them), all from this checkout. The same submissions (chapter
02's correct and common-mistake samples, cycled) are graded four ways, each --runs times:
local `--jobs 1`, local `--jobs 2`, `--cluster` with 1 worker, `--cluster` with 2 workers.
Printed per setup, medians of the runs: the whole run's seconds per submission, and the grading
alone (the run minus nbgrader's bookkeeping, which stays serial on the instructor's machine,
read from the run's ledger.csv), with throughput ratios against 1 worker, and whether every
setup gave every submission the same score.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_grading import CHAPTER, environment, make_submissions  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A scheduler and `workers` worker processes on this machine, stopped (process groups) on exit."""

    def __init__(self, workers: int, logs: Path):
        self.workers, self.logs, self.processes = workers, logs, []
        self.address = f"tcp://127.0.0.1:{free_port()}"

    def _start(self, name: str, command: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(command, cwd=ROOT, env=environment(), stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True))

    def __enter__(self) -> Cluster:
        port = self.address.rsplit(":", 1)[1]
        self._start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port,
                                  "--no-dashboard"])
        for i in range(self.workers):
            self._start(f"worker{i}", [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                                       "--nworkers", "1", "--no-dashboard"])
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def grade(folder: Path, out: Path, options: list[str]) -> tuple[float, float, dict[str, float]]:
    """One `grade` run: (wall seconds, bookkeeping seconds from its ledger, scores)."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", CHAPTER, str(folder), "--out", str(out),
                           *options], cwd=ROOT, env=environment(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"grade {' '.join(options)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    with open(out / "ledger.csv") as fh:
        bookkeeping = float(next(csv.DictReader(fh))["run_bookkeeping_seconds"])
    with open(out / "grades.csv") as fh:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)}
    return wall, bookkeeping, scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each setup, median reported (default 2)")
    args = parser.parse_args(argv)
    figures, all_scores = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        make_submissions(tmp / "submissions", args.count)
        setups = {"local --jobs 1": (0, ["--jobs", "1"]), "local --jobs 2": (0, ["--jobs", "2"]),
                  "1 Dask worker": (1, []), "2 Dask workers": (2, [])}
        for name, (workers, options) in setups.items():
            walls, grading = [], []
            for run in range(args.runs):
                out = tmp / f"out-{workers}-{run}"
                if workers:
                    logs = tmp / f"logs-{workers}-{run}"
                    logs.mkdir()
                    with Cluster(workers, logs) as cluster:
                        wall, bookkeeping, scores = grade(tmp / "submissions", out, ["--cluster", cluster.address])
                else:
                    wall, bookkeeping, scores = grade(tmp / "submissions", out, options)
                walls.append(wall)
                grading.append(wall - bookkeeping)
                all_scores.append(scores)
            figures[name] = (statistics.median(walls) / args.count, statistics.median(grading) / args.count)
    agree = all(scores == all_scores[0] for scores in all_scores)
    print(f"{args.count} submissions of {CHAPTER}; median of {args.runs} runs per setup, on this machine "
          f"({os.cpu_count()} cores)")
    print(f"{'setup':16} {'whole run, s/submission':>24} {'grading alone, s/submission':>29}")
    for name, (whole, alone) in figures.items():
        print(f"{name:16} {whole:24.2f} {alone:29.2f}")
    one, two = figures["1 Dask worker"], figures["2 Dask workers"]
    print(f"2 workers vs 1, throughput: whole run {one[0] / two[0]:.2f}x, grading alone {one[1] / two[1]:.2f}x")
    print(f"scores agree: {'yes' if agree else 'no'}")
    return {"figures": figures, "agree": agree}


if __name__ == "__main__":
    main()
