"""The life of a submission's sandboxed worker process, on the checker's side.

`WorkerProcess` starts the worker (forked from a warm template, or cold: a sandboxed interpreter
of its own), sends it the student's cells and waits while it loads them, one top-level statement
at a time, restarting it without a statement that ended or hung it. It frames the JSON-lines
messages (`autograder.protocol`) on the pipes, bounds each answer in time and the whole
submission by one deadline, kills the worker with everything it started, says why a worker
died, and adds up the CPU time and peak memory of every worker it ran. What the messages mean
is `autograder.remote`'s business (the interface the checks call).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import Protocol

from autograder import processes, protocol, sandbox, warm_sandbox
from autograder.checks.adapter import CheckFailed
from autograder.fair_share import FairShare


class WorkerDied(CheckFailed):
    """The student's process ended or hung: reported as the failing check's reason."""


class Child(Protocol):
    """A started worker: `ColdWorker` here, or `warm_sandbox.WarmChild` forked from a template."""

    to_worker: int     # the pipe the checker writes requests to
    from_worker: int   # the pipe the worker answers on
    stderr_fd: int     # what the worker left on its standard error

    def pids(self) -> list[processes.Listed]:
        """The worker's live processes, as this machine numbers them, each with its start time."""

    def poll(self) -> int | None:
        """The exit status once the worker has ended, else None (never blocks)."""

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, waiting up to `timeout` seconds (None: forever); None if still running."""

    def reap(self) -> None:
        """After the kill: collect what is left of the worker."""

    def release(self) -> None:
        """Give back what the worker held (pipes, its cgroup)."""


class WorkerProcess:
    """One submission's worker, across the restarts loading its cells may need.

    cells: the solution cells [(grade_id, source)], run top to bottom; mode: the sandbox
    (`sandbox.worker_command`); forbidden: the families (`autograder.families`) the worker locks
    before the student's code runs; mounts: files the sandbox shows over the originals
    (`sandbox.prepare`); request_timeout: the default bound on one answer; deadline: a
    time.monotonic() value after which nothing more runs, loading and restarts included.
    warm: fork each worker from this process's warm template (`autograder.warm_sandbox`) where
    the machine allows it, instead of starting a sandboxed interpreter for it (a cold worker).
    """

    def __init__(self, cells: list[tuple[str, str]], mode: str = "bwrap", limits: sandbox.Limits = sandbox.Limits(),
                 request_timeout: float = 60.0, deadline: float | None = None, forbidden: tuple[str, ...] = (),
                 mounts: list[tuple[str, str]] = (), warm: bool = False):
        self.cells = cells
        self.warm = warm and warm_sandbox.available(mode)
        self.mode = mode
        self.limits = limits
        self.request_timeout = request_timeout
        self.deadline = deadline
        self.forbidden = list(forbidden)
        self.mounts = list(mounts)
        self.cell_errors: dict[str, str] = {}  # grade_id: the exception its cell raised while loading
        self.process: Child | None = None
        self.skipped: set[tuple[int, int]] = set()   # top-level statements that ended or hung the worker
        self.load_problems: list[str] = []
        self.load_timeout = 30.0      # per top-level statement of the student's cells
        self.startup_timeout = 120.0  # interpreter start and imports, before the first statement
        self.max_skips = 5
        self.cpu_seconds = 0.0  # CPU time of every worker process this submission ran (restarts included)
        self.peak_mb = 0        # the largest peak resident memory among them

    def remaining(self, allowance: float) -> float:
        """`allowance` seconds, cut to what is left before the deadline."""
        if self.deadline is None:
            return allowance
        return min(allowance, self.deadline - time.monotonic())

    # -- starting ------------------------------------------------------------------------------
    def _spawn(self) -> None:
        """Start a confined worker (warm or cold) and send it the cells; it runs them one statement at a time."""
        self.process = None
        if self.warm:
            try:
                self.process = warm_sandbox.template_for(self.mounts, self.limits).spawn(self.limits)
            except (warm_sandbox.TemplateFailed, OSError, ValueError):
                self.warm = False  # this machine would not keep a template: cold workers from now on
        if self.process is None:
            self.process = ColdWorker(self.mode, self.limits, self.mounts)
        self._out = os.fdopen(self.process.to_worker, "wb")
        self._in = self.process.from_worker
        self._buffer = b""
        self._out.write(protocol.dumps({"cells": [list(c) for c in self.cells], "skip": sorted(self.skipped),
                                        "forbidden": self.forbidden}))
        self._out.flush()

    def start(self) -> None:
        """Start the worker and wait until it has loaded the cells.

        Each top-level statement announces itself; one that ends the process or stays silent past
        its allowance is skipped on a restart, so such a trick neither costs nor earns anything,
        up to `max_skips` restarts and never past the deadline.
        """
        while True:
            if self.remaining(1.0) <= 0:
                raise WorkerDied("the submission's time limit was used up while its code was loading")
            self._spawn()
            progress = None
            try:
                while True:
                    # Until the first statement announces itself the worker is starting Python and
                    # importing torch, which a busy machine may slow far beyond one statement's limit.
                    allowance = self.load_timeout if progress is not None else max(self.load_timeout, self.startup_timeout)
                    reply = protocol.loads(self._readline(self.remaining(allowance)))
                    if "progress" not in reply:
                        self.cell_errors = {str(k)[:200]: str(v)[:protocol.MAX_TEXT] for k, v in dict(reply.get("cell_errors", {})).items()}
                        return
                    progress = reply["progress"]
            except (protocol.ProtocolError, WorkerDied, TypeError, ValueError) as exc:
                self.close()
                if self.remaining(1.0) <= 0:
                    raise WorkerDied("the submission's time limit was used up while its code was loading") from None
                if progress is None or len(self.skipped) >= self.max_skips:
                    raise WorkerDied(f"the code could not be loaded ({exc})") from None
                j, i, line = _statement(progress, len(self.cells))
                self.skipped.add((j, i))
                self.load_problems.append(f"cell {self.cells[j][0]}, line {line}: {exc}; that statement was skipped")

    # -- stopping ------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill the worker and every process it started, and wait until they are gone.

        A PID namespace would take them down anyway once its first process dies, but
        asynchronously; killing each one and waiting makes "no process left behind" hold on return.
        Each is killed through a pidfd, and only while it is still the process listed
        (`processes.kill`): a PID reused meanwhile by another process is left alone.
        """
        if self.process is None:
            return
        listed = self.process.pids()
        cpu, peak = processes.usage(listed)  # before the kill: the dead keep no peak
        self.cpu_seconds += cpu
        self.peak_mb = max(self.peak_mb, peak)
        processes.kill(listed, between=self.process.reap)
        try:
            self._out.close()
        except OSError:
            pass
        self.process.release()
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages ------------------------------------------------------------------------------
    def _readline(self, timeout: float) -> bytes:
        """The worker's next message line, within `timeout` seconds; WorkerDied if it hangs, ends or floods."""
        if timeout <= 0:
            raise WorkerDied("the submission's time limit was used up")
        end = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise WorkerDied(f"no answer within {timeout:.0f} s (an endless loop?); the code was stopped")
            ready, _, _ = select.select([self._in], [], [], remaining)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    code = self.process.poll()
                    raise WorkerDied(self._death_reason(code))
                self._buffer += chunk
                if len(self._buffer) > protocol.MAX_MESSAGE_BYTES:
                    raise WorkerDied("the code produced an answer too large to check")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _death_reason(self, code) -> str:
        if code is None:
            code = self.process.wait(timeout=5)
            if code is None:
                return "the code closed its connection to the grader"
        tail = ""
        try:
            tail = _read_available(self.process.stderr_fd, 4000).decode(errors="replace")
        except Exception:
            pass
        if "MemoryError" in tail or "Cannot allocate" in tail:
            return f"the code ran out of memory (limit {self.limits.memory_gb:g} GB)"
        return f"the code ended the process (exit status {code})"

    def exchange(self, message: dict, timeout: float | None = None) -> dict:
        """Send one request and return the worker's reply, starting the worker first if none runs.

        A worker that dies, hangs past `timeout` (default `request_timeout`, cut to the deadline)
        or answers garbage is killed and WorkerDied raised with the reason; the next request
        starts a fresh worker.
        """
        if self.process is None:
            self.start()
        timeout = self.remaining(timeout or self.request_timeout)
        if timeout <= 0:
            raise WorkerDied("the submission's time limit was used up before this check")
        try:
            self._out.write(protocol.dumps(message))
            self._out.flush()
            reply = protocol.loads(self._readline(timeout))
        except (BrokenPipeError, protocol.ProtocolError, WorkerDied) as exc:
            reason = exc if isinstance(exc, WorkerDied) else WorkerDied(self._death_reason(self.process.poll()))
            self.close()
            raise reason from None
        return reply


class ColdWorker:
    """A worker started on its own: bubblewrap (or, with mode 'none', plain Python) running autograder.worker.

    A `Child`, like warm_sandbox.WarmChild. Each cold worker gets its own fair share of the
    machine (cgroups).
    """

    def __init__(self, mode: str, limits: sandbox.Limits, mounts: list[tuple[str, str]]):
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        command = sandbox.worker_command(mode, to_worker_r, from_worker_w, mounts)
        self.share = FairShare.create(limits.tasks, limits.cpus) if mode == "bwrap" else None
        share = self.share

        def confine():  # in the child, between fork and exec
            limits.apply()
            if share is not None:
                share.join()

        self.popen = subprocess.Popen(
            command, pass_fds=(to_worker_r, from_worker_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=sandbox.worker_environment(),
            preexec_fn=confine, cwd="/tmp")
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.stderr_fd = self.popen.stderr.fileno()
        self.root = processes.of_child(self.popen.pid)  # before anything waits for it: its PID is still its own

    def pids(self) -> list[processes.Listed]:
        """bubblewrap and every process below it."""
        return [self.root, *processes.descendants(self.root)]

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def reap(self) -> None:
        """After the kill: collect bubblewrap's exit (and its session's stragglers).

        Its process group is signalled only while bubblewrap has not been waited for: until then
        its PID, and so the group's number, cannot belong to anyone else.
        """
        if self.popen.returncode is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.popen.wait()

    def release(self) -> None:
        """Give back the cgroup and the pipes."""
        if self.share is not None:
            self.share.remove()
            self.share = None
        self.popen.stderr.close()
        os.close(self.from_worker)


def _statement(progress, cells: int) -> tuple[int, int, int]:
    """The (cell, statement, line) a worker announced, checked: it comes from the student's process."""
    j, i, line = (int(v) for v in progress)
    if not 0 <= j < cells:
        raise WorkerDied("the worker announced a cell that does not exist")
    return j, i, line


def _read_available(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of what a dead worker left on file descriptor `fd`, without waiting for more."""
    data = b""
    while len(data) < limit and select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, limit - len(data))
        if not chunk:
            break
        data += chunk
    return data
