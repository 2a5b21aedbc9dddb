"""`grade --cluster ADDRESS`: grade each submission on a Dask distributed cluster.

One machine grades a class in minutes; a large class, or a chapter with slow checks, may want
more. The command still runs on the instructor's machine and keeps all the bookkeeping there
(finding the submissions, nbgrader, the gradebook, the feedback, grades.csv, results/ as the
resume point); only `grade_one`, the per-submission work, moves to the cluster's workers.

What travels with a task is everything the verdict depends on and nothing that names the
instructor's disk: the notebook's bytes, the student id and the submission's hash, the salt
(together they seed the hidden checks, so scores are the same as a local run), the grading
parameters, and the course fingerprint the instructor's checkout computed. Its wire format is
`GradingTask.to_wire` (`autograder.records`): plain values, the fingerprint and manifest at the top
level, so that a worker of any version can read them and refuse. A worker:

1. computes its own fingerprint and refuses the task (`WorkerRefused`) if it differs: a worker
   with other solutions, checks, references or grading code would give other verdicts. The
   command then sends that task to the other workers, and stops with the error if none is left;
2. writes the bytes to a private temporary folder, prepares its own sandbox mounts
   (`sandbox.prepare` on that machine) and runs `grade_one_safely` there, sandboxed and limited
   exactly as locally (with the warm template where it runs as root);
3. returns the result as plain values (`GradingResult.to_dict`), which the command writes to
   results/<student>.json at once.

A worker that dies mid-batch loses nothing: the scheduler reruns its tasks on another worker
(up to `distributed.scheduler.allowed-failures` times), and what already arrived is on disk,
so rerunning the command resumes. Start workers with `dask worker ADDRESS --nthreads 1`
(README, "For instructors"): a worker grades one submission at a time per process, as a
`--jobs` process does (the checks seed process-wide random generators).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import secrets
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from autograder.records import MAX_PROBLEM, GradingResult, GradingTask, cut

ROOT = Path(__file__).resolve().parent.parent
# What decides a verdict: the source notebooks (tests, points), the checks and the grading code
# (autograder/, checks/ included), the helper package the student's code imports, the reference
# outputs, and the libraries the checks and the sandbox's lock are built on.
FINGERPRINTED_FOLDERS = ("solutions", "autograder", "dlcourse", "data/reference")
FINGERPRINTED_PACKAGES = ("torch", "numpy")
CONNECT_SECONDS = 30.0   # to reach the scheduler
WORKERS_SECONDS = 60.0   # for a first worker to join, when the scheduler has none


class ClusterUnavailable(RuntimeError):
    """The scheduler cannot be reached, or has no worker to grade on."""


class WorkerRefused(RuntimeError):
    """A worker cannot grade like the instructor's machine (another course version, no sandbox)."""

    def __init__(self, message: str, worker: str = ""):
        super().__init__(message, worker)
        self.message, self.worker = message, worker

    def __str__(self) -> str:
        return self.message


# -- the course version -----------------------------------------------------------------------

def course_manifest(root: Path = ROOT) -> dict[str, str]:
    """{component: digest} of everything that decides a verdict, so a mismatch can say what differs."""
    manifest = {folder: _folder_digest(root / folder) for folder in FINGERPRINTED_FOLDERS}
    for package in FINGERPRINTED_PACKAGES:
        manifest[package] = importlib.metadata.version(package)
    return manifest


def _folder_digest(folder: Path) -> str:
    """SHA-256 of a folder's files (relative names and bytes), skipping caches and hidden files."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (not path.is_file() or path.suffix in (".pyc", ".md")
                or any(part == "__pycache__" or part.startswith(".") for part in relative.parts)):
            continue
        digest.update(f"{relative.as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def course_fingerprint(manifest: dict[str, str] | None = None) -> str:
    """One short digest of the course version: the instructor's and every worker's must agree."""
    manifest = course_manifest() if manifest is None else manifest
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


# -- the worker's side ------------------------------------------------------------------------

_ONE_AT_A_TIME = threading.Lock()  # a worker started with more threads still grades one at a time
_MOUNTS: dict[tuple[str, ...], list] = {}


def grade_on_worker(wire: dict) -> dict:
    """On a Dask worker: check this machine can grade like the instructor's, then grade one submission here.

    `wire` is a task as `GradingTask.to_wire` sent it; the result goes back as `GradingResult.to_dict`.
    """
    from autograder import grading

    worker = _worker_name()
    with _ONE_AT_A_TIME:
        _refuse_if_unfit(wire, worker)  # before reading the task: another version may spell it otherwise
        with tempfile.TemporaryDirectory(prefix="dlcourse-submission-") as folder:  # mode 0700: ours alone
            path = Path(folder) / "submission.ipynb"
            if wire["notebook"] is not None:
                path.write_bytes(wire["notebook"])
            mounts = _sandbox_mounts(tuple(wire["forbidden"])) if wire["sandbox"] == "bwrap" else []
            result = grading.grade_one_safely(GradingTask.from_wire(wire, str(path), mounts))
    result.graded_on = {"worker": worker, "host": socket.gethostname(), "course": str(ROOT)}
    return result.to_dict()


def _refuse_if_unfit(task: dict, worker: str) -> None:
    """Raise WorkerRefused, naming what to do, when this worker would not grade as the instructor's machine."""
    from autograder import sandbox

    mine = course_manifest()
    if course_fingerprint(mine) != task["fingerprint"]:
        differs = sorted(k for k in set(mine) | set(task["manifest"]) if mine.get(k) != task["manifest"].get(k))
        raise WorkerRefused(
            f"worker {worker} ({socket.gethostname()}:{ROOT}) runs another version of the course: its fingerprint "
            f"is {course_fingerprint(mine)}, the instructor's {task['fingerprint']} (differs in: {', '.join(differs)}); "
            f"update that worker's checkout (git pull; pip install -r requirements.txt) and restart it", worker)
    imported = sandbox.imports_course_from()
    if imported != ROOT / "autograder":
        raise WorkerRefused(f"worker {worker} ({socket.gethostname()}) checks with the course in {ROOT}, but its "
                            f"Python ({sys.prefix}) gives sandboxed code the one in {imported.parent}: run "
                            f"`pip install -e {ROOT}` in that environment and restart the worker", worker)
    if task["sandbox"] == "bwrap" and sandbox.bwrap_path() is None:
        raise WorkerRefused(f"worker {worker} ({socket.gethostname()}) has no bubblewrap, so it cannot sandbox "
                            "submissions: `apt-get install bubblewrap` there and restart the worker", worker)


def _sandbox_mounts(family_names: tuple[str, ...]) -> list:
    """This machine's sandbox mounts for the forbidden families, prepared once per worker process."""
    import fcntl

    from autograder import families, sandbox

    if family_names not in _MOUNTS:
        folder = sandbox.cache_folder()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".prepare.lock", "w") as lock:  # worker processes on one machine share the cache
            fcntl.flock(lock, fcntl.LOCK_EX)
            _MOUNTS[family_names] = sandbox.prepare([families.FAMILIES[name] for name in family_names])
    return _MOUNTS[family_names]


def _worker_name() -> str:
    """This Dask worker's address (or the process id when run outside a worker, as in a unit test)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {__import__('os').getpid()}"


# -- the instructor's side --------------------------------------------------------------------

def shipped(task: GradingTask, manifest: dict[str, str]) -> dict:
    """The task as it travels (`GradingTask.to_wire`): the notebook's bytes instead of its path, the course version."""
    from autograder import submissions

    notebook = None
    if not task.unusable:
        try:
            notebook = submissions.read_regular_file(Path(task.path))
        except submissions.UnreadableNotebook as reason:
            task = replace(task, unusable=str(reason))
    return task.to_wire(notebook, manifest, course_fingerprint(manifest))


def results(address: str, tasks: list[GradingTask]) -> Iterator[GradingResult]:
    """Submit every task to the Dask scheduler at `address`; yield each result as it completes."""
    from distributed import as_completed

    manifest = course_manifest()
    travelling = [(task, shipped(task, manifest)) for task in tasks]
    with _connect(address) as client:
        futures = {_submit(client, wire): (task, wire) for task, wire in travelling}
        refused: dict[str, WorkerRefused] = {}
        pending = as_completed(list(futures))
        for future in pending:
            task, wire = futures.pop(future)
            if future.status == "finished":
                yield GradingResult.from_dict(future.result())
                continue
            error = future.exception()
            if not isinstance(error, WorkerRefused):
                yield _not_graded(task, error)  # e.g. KilledWorker: graded again on the next run
                continue
            if error.worker not in refused:
                print(f"warning: {error}; its tasks go to the other workers", file=sys.stderr, flush=True)
            refused[error.worker] = error
            others = [w for w in client.scheduler_info(n_workers=-1)["workers"] if w not in refused]
            if not others:
                raise error
            retry = _submit(client, wire, workers=others)
            futures[retry] = (task, wire)
            pending.add(retry)


def _connect(address: str):
    """A client of the scheduler at `address` that has at least one worker, or ClusterUnavailable saying why."""
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"--cluster {address}: cannot reach a Dask scheduler there ({error}); start one "
                                 "with `dask scheduler` and give its tcp://HOST:8786 address") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except TimeoutError:
        client.close()
        raise ClusterUnavailable(f"--cluster {address}: the scheduler has no worker after {WORKERS_SECONDS:g} s; "
                                 f"start one on each grading machine: `dask worker {address} --nthreads 1`") from None
    return contextlib.closing(client)


def _submit(client, wire: dict, workers: list[str] | None = None):
    """One task on the cluster, under a readable key (the dashboard shows it), restricted to `workers` if given."""
    key = f"grade-{wire['student_id']}-{secrets.token_hex(4)}"
    return client.submit(grade_on_worker, wire, key=key, pure=False, workers=workers,
                         allow_other_workers=False)


def _not_graded(task: GradingTask, error: BaseException) -> GradingResult:
    """The result of a task the cluster could not finish: every test failed, marked to be graded again."""
    return task.not_graded(cut(f"the cluster could not grade this submission ({type(error).__name__}: {error})",
                               MAX_PROBLEM))
