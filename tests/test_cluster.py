"""`grade --cluster`: a real Dask scheduler and workers, each worker from its own copy of the course.

The workers stand for other machines: each runs from a folder holding its own copy of the
course (what `git ls-files` lists, as a fresh checkout would), imports `autograder` from there,
and keeps its sandbox cache there. One batch of chapter 04's sample submissions is graded
locally and then on the cluster, where the scores must be identical; then with a worker whose
checks differ (it refuses every task with the clear error, the good worker grades them), with a
worker killed mid-batch (its task runs elsewhere), and with only the bad worker (the command
fails with the error). Every process started here is stopped at the end, even on failure.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import cluster, sandbox
from checkout import copy_course
from sample_notebooks import ROOT, fill_in, variants, write

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)")]
CHAPTER = "04_initialization"
CLASS = ["correct_math", "correct_numpy", "correct_ints_and_lists", "mistake_fans_swapped",
         "mistake_he_gain_ignored", "mistake_no_value_error", "mistake_square_kernel", "mistake_xavier_normal_std"]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def own_environment(copy: Path) -> Path:
    """The copy's own virtualenv, as a worker machine has: hard links to ours, its editable install pointing at the copy.

    The sandbox starts Python isolated (`-I`), so it finds the course through the environment's
    editable install, not through PYTHONPATH: a worker needs an environment of its own checkout.
    """
    subprocess.run(["cp", "-al", str(ROOT / ".venv"), str(copy / ".venv")], check=True)
    for finder in (copy / ".venv").glob("lib/python*/site-packages/__editable__*finder.py"):
        text = finder.read_text().replace(repr(str(ROOT / "autograder")), repr(str(copy / "autograder")))
        text = text.replace(repr(str(ROOT / "dlcourse")), repr(str(copy / "dlcourse")))
        finder.unlink()  # a hard link: write a new file, never into the shared one
        finder.write_text(text)
    return copy / ".venv" / "bin" / "python"


class Processes:
    """The scheduler and workers this test starts, each in its own process group, all stopped at the end."""

    def __init__(self, logs: Path):
        self.logs, self.started = logs, {}

    def start(self, name: str, command: list[str], cwd: Path) -> subprocess.Popen:
        programs = Path(command[0]).parent if isinstance(command[0], Path) else BIN  # a worker's own venv
        env = dict(os.environ, PATH=f"{programs}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(cwd),
                   XDG_CACHE_HOME=str(cwd / ".cache"))
        log = open(self.logs / f"{name}.log", "w")
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process's whole group (a worker and its sandboxes), then reap it."""
        process = self.started.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.started):
            self.kill(name, signal.SIGTERM)


def wait_for_workers(address: str, count: int, timeout: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=timeout)
        deadline = time.monotonic() + timeout  # wait_for_workers counts at least: wait for exactly
        while len(client.scheduler_info(n_workers=-1)["workers"]) != count and time.monotonic() < deadline:
            time.sleep(0.2)


def wait_until_grading(address: str, name: str, timeout: float = 600) -> None:
    """Return as soon as the worker called `name` is running a task (so killing it loses that task)."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            busy = client.processing()
            if any(info.get("name") == name and busy.get(addr) for addr, info in workers.items()):
                return
            time.sleep(0.05)
    raise AssertionError(f"worker {name} never got a task")


def grade_command(folder: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", CHAPTER, str(folder), "--out", str(out),
            "--timeout", "120", *extra]


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


def grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def graded_on(out: Path) -> set[str]:
    """The course folders the submissions of `out` were graded from (each worker's copy)."""
    return {json.loads(p.read_text())["graded_on"]["course"] for p in (out / "results").glob("*.json")}


def test_the_fingerprint_covers_what_decides_a_verdict(tmp_path):
    here = cluster.course_manifest()
    assert set(here) >= {"solutions", "autograder", "dlcourse", "data/reference", "torch", "numpy"}
    copy = copy_course(tmp_path / "copy")
    assert cluster.course_fingerprint(cluster.course_manifest(copy)) == cluster.course_fingerprint(here)
    (copy / "autograder" / "__pycache__").mkdir(exist_ok=True)
    (copy / "autograder" / "__pycache__" / "x.pyc").write_bytes(b"cache")  # caches do not count
    assert cluster.course_manifest(copy) == here
    for edited in ("autograder/checks/initialization.py", "data/reference/checksums.json",
                   f"solutions/{CHAPTER}/{CHAPTER}.ipynb"):
        original = (copy / edited).read_bytes()
        (copy / edited).write_bytes(original + b"\n")
        assert cluster.course_fingerprint(cluster.course_manifest(copy)) != cluster.course_fingerprint(here), edited
        (copy / edited).write_bytes(original)


def test_a_class_graded_on_a_cluster_scores_exactly_as_locally(tmp_path):
    folder = tmp_path / "submissions"
    for name in CLASS:
        write(fill_in(CHAPTER, variants(CHAPTER)[name]), folder / f"{name}.ipynb")
    logs = tmp_path / "logs"
    logs.mkdir()
    good = {name: copy_course(tmp_path / f"worker-{name}") for name in ("a", "b")}
    bad = copy_course(tmp_path / "worker-bad")
    check = bad / "autograder" / "checks" / "initialization.py"
    check.write_text(check.read_text() + "\n# an edit this worker's checkout has and the instructor's has not\n")

    local = run(grade_command(folder, tmp_path / "local", "--jobs", "2"))
    assert local.returncode == 0, local.stderr[-3000:]
    expected = grades(tmp_path / "local")

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = Processes(logs)
    pythons = {copy: own_environment(copy) for copy in [*good.values(), bad]}

    def worker(copy: Path, name: str) -> list:
        return [pythons[copy], "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
                "--no-dashboard", "--name", name]

    try:
        processes.start("scheduler", ["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], tmp_path)
        for name, copy in good.items():
            processes.start(name, worker(copy, name), copy)
        wait_for_workers(address, 2)

        # Two good workers: the same scores as the local run, graded from the workers' own copies.
        started = time.monotonic()
        both = run(grade_command(folder, tmp_path / "cluster", "--cluster", address))
        seconds = time.monotonic() - started
        assert both.returncode == 0, both.stderr[-3000:]
        assert grades(tmp_path / "cluster") == expected
        assert graded_on(tmp_path / "cluster") <= {str(copy) for copy in good.values()}
        print(f"cluster of 2 workers: {seconds:.1f} s for {len(CLASS)} submissions;", both.stdout.splitlines()[-1])

        # A worker with an edited check refuses its tasks, clearly; the good ones grade them all.
        processes.start("bad", worker(bad, "bad"), bad)
        wait_for_workers(address, 3)
        mixed = run(grade_command(folder, tmp_path / "mixed", "--cluster", address))
        assert mixed.returncode == 0, mixed.stderr[-3000:]
        assert grades(tmp_path / "mixed") == expected
        assert str(bad) not in graded_on(tmp_path / "mixed")

        # A worker killed mid-batch: its task runs on another worker, the scores do not change.
        out = tmp_path / "killed"
        grading = subprocess.Popen(grade_command(folder, out, "--cluster", address), cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"))
        try:
            wait_until_grading(address, "b")
            processes.kill("b")  # SIGKILL to the worker and everything it started, mid-task
            stdout, stderr = grading.communicate(timeout=1200)
        finally:
            if grading.poll() is None:
                grading.kill()
                grading.wait()
        assert grading.returncode == 0, stderr[-3000:]
        assert grades(out) == expected
        assert str(good["b"]) not in graded_on(out)  # its task was lost with it, and graded again on a
        rerun = run(grade_command(folder, out, "--cluster", address))  # the resume point: nothing left to grade
        assert rerun.returncode == 0 and grades(out) == expected, rerun.stderr[-3000:]

        # Only the bad worker left: the command stops with its error, naming both fingerprints.
        processes.kill("a", signal.SIGTERM)
        wait_for_workers(address, 1)
        alone = run(grade_command(folder, tmp_path / "alone", "--cluster", address))
    finally:
        processes.stop_all()
    for result in (mixed, alone):
        assert "runs another version of the course" in result.stderr, result.stderr[-3000:]
        assert cluster.course_fingerprint() in result.stderr
        assert "differs in: autograder" in result.stderr and "update that worker's checkout" in result.stderr
    assert alone.returncode == 2
    leftovers = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    # This checkout's sandboxed workers and anything run from this test's copies: another checkout
    # grading on the same machine at the same time is no leak of ours.
    assert not [line for line in leftovers.splitlines()
                if ("autograder.worker" in line and sys.executable in line) or str(tmp_path) in line]
