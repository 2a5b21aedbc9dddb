"""The checker's side of a sandboxed worker: the same interface as LocalImplementation.

Each request has a wall-clock limit; a worker that overruns it, exits, or answers garbage is
killed (with everything it started) and the request fails with the reason. The next request
starts a fresh worker, so one broken part does not sink the others.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time

from autograder import protocol, sandbox, warm_sandbox
from autograder.checks.adapter import CheckFailed, StudentError
from autograder.fair_share import FairShare


class WorkerDied(CheckFailed):
    """The student's process ended or hung: reported as the failing check's reason."""


class RemoteImplementation:
    """The student's code in a sandboxed worker, driven like a LocalImplementation.

    forbidden: the families (`autograder.families`) the worker locks before the student's code
    runs; mounts: files the sandbox shows over the originals (`sandbox.prepare`); deadline: a
    time.monotonic() value after which nothing more runs, loading and restarts included.
    warm: fork each worker from this process's warm template (`autograder.warm_sandbox`) where
    the machine allows it, instead of starting a sandboxed interpreter for it (a cold worker).
    """

    # Nothing the student's process reports decides a verdict: forbidden calls raise in the worker.
    forbidden_seen: frozenset = frozenset()

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
        self.cell_errors: dict[str, str] = {}
        self.process: ColdWorker | warm_sandbox.WarmChild | None = None
        self.skipped: set[tuple[int, int]] = set()   # top-level statements that ended or hung the worker
        self.load_problems: list[str] = []
        self.load_timeout = 30.0      # per top-level statement of the student's cells
        self.startup_timeout = 120.0  # interpreter start and imports, before the first statement
        self.max_skips = 5
        self.cpu_seconds = 0.0  # CPU time of every worker process this submission ran (restarts included)
        self.peak_mb = 0        # the largest peak resident memory among them

    # -- worker life cycle -------------------------------------------------------------------
    def _remaining(self, allowance: float) -> float:
        """`allowance` seconds, cut to what is left before the deadline."""
        if self.deadline is None:
            return allowance
        return min(allowance, self.deadline - time.monotonic())

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

    def _start(self) -> None:
        """Start the worker and wait until it has loaded the cells.

        Each top-level statement announces itself; one that ends the process or stays silent past
        its allowance is skipped on a restart, so such a trick neither costs nor earns anything,
        up to `max_skips` restarts and never past the deadline.
        """
        while True:
            if self._remaining(1.0) <= 0:
                raise WorkerDied("the submission's time limit was used up while its code was loading")
            self._spawn()
            progress = None
            try:
                while True:
                    # Until the first statement announces itself the worker is starting Python and
                    # importing torch, which a busy machine may slow far beyond one statement's limit.
                    allowance = self.load_timeout if progress is not None else max(self.load_timeout, self.startup_timeout)
                    reply = protocol.loads(self._readline(self._remaining(allowance)))
                    if "progress" not in reply:
                        self.cell_errors = {str(k)[:200]: str(v)[:protocol.MAX_TEXT] for k, v in dict(reply.get("cell_errors", {})).items()}
                        return
                    progress = reply["progress"]
            except (protocol.ProtocolError, WorkerDied, TypeError, ValueError) as exc:
                self.close()
                if self._remaining(1.0) <= 0:
                    raise WorkerDied("the submission's time limit was used up while its code was loading") from None
                if progress is None or len(self.skipped) >= self.max_skips:
                    raise WorkerDied(f"the code could not be loaded ({exc})") from None
                j, i, line = _statement(progress, len(self.cells))
                self.skipped.add((j, i))
                self.load_problems.append(f"cell {self.cells[j][0]}, line {line}: {exc}; that statement was skipped")

    def close(self) -> None:
        """Kill the worker and every process it started, and wait until they are gone.

        A PID namespace would take them down anyway once its first process dies, but
        asynchronously; killing each one and waiting makes "no process left behind" hold on return.
        """
        if self.process is None:
            return
        pids = self.process.pids()
        cpu, peak = _tree_usage(pids)  # before the kill: the dead keep no peak
        self.cpu_seconds += cpu
        self.peak_mb = max(self.peak_mb, peak)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.reap()
        _wait_until_gone(pids)
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

    # -- messaging ---------------------------------------------------------------------------
    def _readline(self, timeout: float) -> bytes:
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

    def _exchange(self, message: dict, timeout: float | None = None) -> dict:
        timeout = self._remaining(timeout or self.request_timeout)
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

    def _request(self, op: str, *args, **fields) -> object:
        if self.process is None:
            self._start()
        message = {"op": op, "args": protocol.encode(list(args)), **fields}
        if "kwargs" in fields:
            message["kwargs"] = protocol.encode(fields["kwargs"])
        reply = self._exchange(message)
        if reply.get("ok"):
            return protocol.decode(reply.get("result"))
        if "student_error" in reply:
            error = reply["student_error"]
            raise StudentError(tuple(str(t)[:100] for t in list(error["types"])[:20]) or ("Exception",),
                               str(error["message"])[:protocol.MAX_TEXT])
        if "check_failed" in reply:
            raise CheckFailed(str(reply["check_failed"])[:protocol.MAX_TEXT])
        raise CheckFailed(f"the grader could not run this check ({str(reply.get('worker_error', 'unknown error'))[:protocol.MAX_TEXT]})")

    # -- the Implementation interface ----------------------------------------------------------
    def has(self, name: str) -> bool:
        return bool(self._request("has", name=name))

    def call(self, name: str, *args, **kwargs):
        return self._request("call", *args, name=name, kwargs=kwargs)

    def new_module(self, class_name: str, *args, **kwargs) -> RemoteModule:
        handle = self._request("new_module", *args, name=class_name, kwargs=kwargs)
        return RemoteModule(self, handle)

    def new_object(self, class_name: str, *args, **kwargs) -> RemoteObject:
        handle = self._request("new_object", *args, name=class_name, kwargs=kwargs)
        return RemoteObject(self, handle)


class ColdWorker:
    """A worker started on its own: bubblewrap (or, with mode 'none', plain Python) running autograder.worker.

    The same small interface as warm_sandbox.WarmChild: its pipes, pids(), poll(), wait(),
    reap() and release(). Each cold worker gets its own fair share of the machine (cgroups).
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

    def pids(self) -> list[int]:
        """bubblewrap and every process below it."""
        return [self.popen.pid, *_descendants(self.popen.pid)]

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def reap(self) -> None:
        """After the kill: collect bubblewrap's exit (and its session's stragglers)."""
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


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, found through /proc (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, []):
            found.append(child)
            frontier.append(child)
    return found


def _tree_usage(pids: list[int]) -> tuple[float, int]:
    """CPU seconds and the largest peak resident memory (MB) of these processes, read from /proc.

    Each process's own time plus that of the children it has reaped (stat fields utime, stime,
    cutime, cstime), so a worker inside bubblewrap's PID namespace counts whoever reaped it;
    the kernel writes these figures, the student's process cannot change them.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            cpu += sum(int(value) for value in fields[11:15]) / ticks
            with open(f"/proc/{pid}/status") as fh:
                hwm = [line.split()[1] for line in fh if line.startswith("VmHWM:")]
            peak = max([peak] + [int(kb) // 1024 for kb in hwm])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile: its time went to the parent that reaped it
    return cpu, peak


def _wait_until_gone(pids: list[int], seconds: float = 10.0) -> None:
    """Wait until every pid is dead (gone, or a zombie awaiting its parent), killing again as we go."""
    end = time.monotonic() + seconds
    for pid in pids:
        while time.monotonic() < end:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                break  # gone
            if state in ("Z", "X"):
                break  # dead, waiting to be reaped by its parent
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.01)


class _RemoteHandle:
    """Something living in the worker behind a handle; `OP` names the worker op that drives it."""

    OP = ""

    def __init__(self, impl: RemoteImplementation, handle: protocol.Handle):
        self.impl = impl
        self.handle = handle
        self.worker = impl.process

    def _call(self, method: str, *args, **kwargs):
        if self.impl.process is not self.worker:
            raise WorkerDied(f"the {self.OP} was lost when the student's process was restarted")
        return self.impl._request(self.OP, *args, handle=self.handle.number, method=method, kwargs=kwargs)


class RemoteModule(_RemoteHandle):
    """A module living in the worker, driven by name. Mirrors adapter.LocalModule."""

    OP = "module"

    def set_training(self, training: bool) -> None:
        self._call("set_training", training)

    def is_training(self) -> bool:
        return bool(self._call("is_training"))

    def forward(self, x, seed=None):
        return self._call("forward", x, seed=seed)

    def forward_backward(self, x, dout, seed=None):
        return self._call("forward_backward", x, dout, seed=seed)

    def parameters(self):
        return self._call("parameters")

    def buffers(self):
        return self._call("buffers")

    def state_dict(self):
        return self._call("state_dict")

    def load_state_dict(self, state):
        self._call("load_state_dict", state)

    def set_parameter(self, name, value):
        self._call("set_parameter", name, value)

    def to_dtype(self, dtype):
        self._call("to_dtype", dtype)


class RemoteObject(_RemoteHandle):
    """A callback object living in the worker with its probe model, driven by name. Mirrors adapter.LocalObject."""

    OP = "object"

    def step(self, value, state, in_place=True):
        return self._call("step", float(value), state, in_place=bool(in_place))

    def attributes(self, names):
        return self._call("attributes", [str(n) for n in names])
