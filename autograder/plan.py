"""`python -m autograder plan ASSIGNMENT --students N [--jobs J] [--workers W]`: how long will grading take?

It measures, then predicts. Measuring: the instructor's solution is graded through the real
`grade` command (sandbox, nbgrader, feedback) in a temporary folder, in `runs` batches of 1, 2,
... copies, one job at a time, so each submission's cost is its own, then (for J > 1) one batch
of 3 x J copies with --jobs J, since J submissions side by side slow each other down (memory, disk,
the machine's other work). From the cost ledger of those batches (`autograder.ledger`):
  wall      median seconds one submission takes, alone
  wall_J    median seconds one takes among J at once (wall when J = 1)
  cpu       median CPU seconds it uses (checks + reader + sandboxed worker)
  startup   median seconds of a run outside grading and bookkeeping (pool, imports, sandbox set-up)
  fixed, per  the bookkeeping (nbgrader autograde + generate_feedback, serial, on the instructor's
            machine) fitted as fixed + per x submissions over the batches' sizes
The model, for N students, J jobs per machine, W machines each with `cores` cores:
  slot      = max(wall_J, J x cpu / cores)  a submission's wall time when J share the cores
  rounds    = ceil(N / (J x W))           submissions graded side by side, J x W at a time
  predicted = startup + rounds x slot + fixed + per x N
It assumes every submission costs what the solution costs (a hostile one that hangs costs up
to --timeout), cluster machines as fast as this one and no transfer time; the bookkeeping does
not shrink with W, so for a large class it is the floor.
"""
from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Costs:
    wall: float               # seconds one submission takes alone
    cpu: float                # CPU seconds one submission uses
    startup: float            # seconds of a run before and around the grading, once per run
    bookkeeping_fixed: float  # seconds of nbgrader bookkeeping whatever the batch's size
    bookkeeping_per: float    # and per submission
    cores: int                # cores of one grading machine
    worker_peak_mb: int = 0   # the student's worker's peak resident memory (for the memory note)
    parallel_jobs: int = 1    # the --jobs of the batch that measured parallel_wall
    parallel_wall: float = 0.0  # seconds one submission takes among parallel_jobs at once (0: not measured)


@dataclass(frozen=True)
class Prediction:
    slot: float
    rounds: int
    grading: float
    bookkeeping: float
    total: float


def predict(costs: Costs, students: int, jobs: int = 1, workers: int = 1) -> Prediction:
    """The model (module docstring): start-up, then rounds of J x W submissions, then serial bookkeeping."""
    measured = costs.parallel_wall if jobs == costs.parallel_jobs and costs.parallel_wall else costs.wall
    slot = max(measured, jobs * costs.cpu / costs.cores)
    rounds = math.ceil(students / (jobs * workers))
    grading = rounds * slot
    bookkeeping = costs.bookkeeping_fixed + costs.bookkeeping_per * students
    return Prediction(slot, rounds, grading, bookkeeping, costs.startup + grading + bookkeeping)


def fit_bookkeeping(batches: list[tuple[int, float]]) -> tuple[float, float]:
    """(fixed, per) of a least-squares line through (submissions, seconds); neither below zero."""
    sizes, seconds = [n for n, _ in batches], [s for _, s in batches]
    mean_n, mean_s = statistics.fmean(sizes), statistics.fmean(seconds)
    spread = sum((n - mean_n) ** 2 for n in sizes)
    per = max(0.0, sum((n - mean_n) * (s - mean_s) for n, s in batches) / spread) if spread else 0.0
    return max(0.0, mean_s - per * mean_n), per


def costs_from_runs(runs: list[dict], cores: int, parallel: dict | None = None) -> Costs:
    """Costs from the ledger entries (`grading.LAST_RUN`) of batches graded one job at a time,
    and of the batch graded with several jobs, if any."""
    side_by_side = {} if parallel is None else {
        "parallel_jobs": parallel["jobs"], "parallel_wall": statistics.median(r["wall_seconds"] for r in parallel["rows"])}
    rows = [row for run in runs for row in run["rows"]]
    startups = [run["run_wall_seconds"] - run["run_bookkeeping_seconds"] - sum(r["wall_seconds"] for r in run["rows"])
                for run in runs]
    fixed, per = fit_bookkeeping([(run["run_submissions"], run["run_bookkeeping_seconds"]) for run in runs])
    return Costs(wall=statistics.median(r["wall_seconds"] for r in rows), cpu=statistics.median(r["cpu_seconds"] for r in rows),
                 startup=max(0.0, statistics.median(startups)), bookkeeping_fixed=fixed, bookkeeping_per=per,
                 cores=cores, worker_peak_mb=max(int(r["worker_peak_mb"]) for r in rows), **side_by_side)


def measure(assignment: str, runs: int = 3, jobs: int = 1, sandbox: str = "bwrap", timeout: float = 300.0,
            memory: float = 4.0, say=print) -> tuple[list[dict], dict | None, bool]:
    """Grade batches of 1..runs copies of the solution in a temporary folder one job at a time, then
    (jobs > 1) one of 3 x `jobs` copies with that many jobs: their ledger entries, the parallel one's,
    and whether the solution passed every check (if not, its cost may not be typical)."""
    from autograder import grading
    from autograder.release import SOLUTIONS

    source = SOLUTIONS / assignment / f"{assignment}.ipynb"
    entries, passed = [], True
    # The side-by-side batch holds 3 x jobs copies: in a batch of only `jobs`, every submission would also
    # wait for its pool process's warm template to start, which a class's batch pays once per process.
    batches = [(size, 1) for size in range(1, runs + 1)] + ([(3 * jobs, jobs)] if jobs > 1 else [])
    with tempfile.TemporaryDirectory(prefix="dlcourse-plan-") as tmp:
        for number, (size, batch_jobs) in enumerate(batches):
            folder = Path(tmp) / f"run{number}"
            (folder / "submissions").mkdir(parents=True)
            for copy in range(1, size + 1):
                shutil.copy(source, folder / "submissions" / f"solution{copy}.ipynb")
            say(f"measuring: grading {size} cop{'y' if size == 1 else 'ies'} of solutions/{assignment} "
                f"with --jobs {batch_jobs} ...", flush=True)
            results, _ = grading.grade(assignment, [folder / "submissions"], folder / "out", jobs=batch_jobs,
                                       timeout=timeout, memory=memory, force=True, sandbox=sandbox, progress=False)
            passed &= all(outcome.passed for result in results for outcome in result.verdicts.values())
            entries.append(dict(grading.LAST_RUN))
    return entries[:runs], (entries[runs] if jobs > 1 else None), passed


def report(costs: Costs, prediction: Prediction, students: int, jobs: int, workers: int, samples: int) -> str:
    """The prediction with every figure it used, so an instructor can check the arithmetic."""
    machines = "1 machine" if workers == 1 else f"{workers} machines (cluster workers)"
    lines = [
        f"measured on this machine ({samples} submissions of the solution, one job at a time):",
        f"  per submission: wall {costs.wall:.2f} s, CPU {costs.cpu:.2f} s, worker peak {costs.worker_peak_mb} MB",
        f"  per submission among {costs.parallel_jobs} at once (--jobs {costs.parallel_jobs}): wall {costs.parallel_wall:.2f} s"
        if costs.parallel_wall else "  (with --jobs 1 nothing runs side by side)",
        f"  start-up per run: {costs.startup:.2f} s",
        f"  bookkeeping (nbgrader autograde + feedback, serial): {costs.bookkeeping_fixed:.2f} s "
        f"+ {costs.bookkeeping_per:.2f} s per submission",
        f"model: start-up + ceil(N / (jobs x machines)) x max(wall at --jobs, jobs x CPU / {costs.cores} cores) + bookkeeping",
        f"prediction for {students} students, --jobs {jobs}, {machines}:",
        f"  {costs.startup:.2f} s + {prediction.rounds} x {prediction.slot:.2f} s + "
        f"({costs.bookkeeping_fixed:.2f} + {costs.bookkeeping_per:.2f} x {students}) s",
        f"  = {prediction.total:.1f} s ({prediction.total / 60:.1f} min), "
        f"{prediction.total / students:.2f} s per submission; grading {prediction.grading:.1f} s, "
        f"bookkeeping {prediction.bookkeeping:.1f} s",
    ]
    if jobs * costs.worker_peak_mb > _memory_mb():
        lines.append(f"  warning: {jobs} workers of {costs.worker_peak_mb} MB exceed this machine's memory")
    return "\n".join(lines)


def _memory_mb() -> int:
    """This machine's physical memory in MB."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20


def cores() -> int:
    """Cores this process may use (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0))
