"""Warm sandboxes: one confined template process per grading job, a fresh confined child per submission.

Starting a sandboxed interpreter and importing torch costs about 2.5 s, most of a submission's
grading time. So each grading job starts, once, a template inside the same bubblewrap sandbox as
a cold worker (`sandbox.template_command`), which imports torch and the worker's code and then
only ever forks. It never runs a student's code. For each submission it forks a child that:

1. leaves the template's namespaces for new ones (mount, PID, IPC, network, UTS) and mounts a
   private, empty /tmp and /dev/shm and its own /proc: it sees no other submission's files or
   processes, and none of the template's;
2. forks once more, so the worker is PID 1 of its own PID namespace: when it ends, every process
   it started ends with it;
3. sets the submission's resource limits, gives up root for `nobody` (losing every capability),
   and runs `autograder.worker.main` on the pipes the checker sent with the request.

Nothing a submission does reaches the next one: each child is a fresh copy of the template's
memory (module state, environment, torch settings, signal handlers, no threads), with a new /tmp.
The checker talks to the template over a socket (SOCK_SEQPACKET: one message per request, the
pipes passed with it); the child's exit status comes back on a pipe of its own, written by the
intermediate process, never by the student's. This needs the grader to run as root (bubblewrap
without a user namespace, as for cold workers; the template alone keeps CAP_SYS_ADMIN to make the
namespaces); otherwise `available()` is False and grading starts a cold worker per submission.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import traceback

from autograder import processes, sandbox

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x4000000, 0x8000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
MAX_REQUEST_BYTES = 4096
READY_TIMEOUT = 180.0   # the template's start (torch import) on a busy machine
SPAWN_TIMEOUT = 20.0


class TemplateFailed(RuntimeError):
    """The template process could not start, or stopped answering."""


def available(mode: str) -> bool:
    """True when submissions can be forked from a warm template: bubblewrap, run as root."""
    return mode == "bwrap" and sandbox.drops_root() and sandbox.bwrap_path() is not None


# -- the template's side (inside the sandbox) -------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc, source: str | None, target: str, kind: str | None, flags: int, options: str | None = None) -> None:
    def encode(s):
        return None if s is None else s.encode()
    _check(libc.mount(encode(source), target.encode(), encode(kind), flags, encode(options)), f"mount {target}")


def _run_child(fds: list[int], request: dict) -> None:
    """In the forked child: new namespaces, a fresh /tmp, then the worker as PID 1 of its own namespace."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    read_fd, write_fd, error_fd, status_fd = fds
    code = 70
    try:
        libc = _libc()
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS), "unshare")
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
        size = int(request.get("tmp_bytes", 64 * 1024**2))
        for folder in ("/tmp", "/dev/shm"):
            if os.path.isdir(folder):
                _fresh_tmpfs(libc, folder, size)
        worker_pid = os.fork()
        if worker_pid == 0:
            _run_worker(libc, read_fd, write_fd, error_fd, request)
        for fd in (read_fd, write_fd, error_fd):
            os.close(fd)
        _, status = os.waitpid(worker_pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except BaseException:
        with contextlib.suppress(OSError):
            os.write(error_fd, traceback.format_exc()[-2000:].encode())
    with contextlib.suppress(OSError):
        os.write(status_fd, f"{code}\n".encode())
    os._exit(0)


def _mount_points_below(folder: str) -> list[str]:
    """Mount points strictly inside `folder`, in the order they were mounted (from /proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as fh:
        points = [_unescape(line.split()[4]) for line in fh]
    return [point for point in points if point.startswith(folder.rstrip("/") + "/")]


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as an octal escape (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _fresh_tmpfs(libc, folder: str, size: int) -> None:
    """An empty tmpfs on `folder`, keeping visible (read-only) what the sandbox mounted inside it.

    The course, its virtualenv or the library overlay may live under /tmp (a checkout there, a
    CI clone): each is held by a file descriptor while the new tmpfs goes on, then bound back.
    """
    held = [(point, os.open(point, os.O_PATH | os.O_CLOEXEC)) for point in _mount_points_below(folder)]
    _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for point, fd in held:
        if not os.path.lexists(point):  # else it is there already, inside a folder bound back before it
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(point, mode=0o755)
            else:
                os.makedirs(os.path.dirname(point), mode=0o755, exist_ok=True)
                open(point, "x").close()
        _mount(libc, f"/proc/self/fd/{fd}", point, None, MS_BIND)
        _mount(libc, None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def _run_worker(libc, read_fd: int, write_fd: int, error_fd: int, request: dict) -> None:
    """PID 1 of the submission's namespace: its own /proc, limits, nobody, then the student's code."""
    code = 0
    try:
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(error_fd, 2)
        _close_all_but({0, 1, 2, read_fd, write_fd})
        sandbox.Limits(**request["limits"]).apply()
        os.chdir("/tmp")
        os.environ.clear()
        os.environ.update(request["environment"])
        from autograder import worker

        worker.drop_privileges(int(request["drop_to"]))
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")  # after the uid change, which clears it
        worker.main(read_fd, write_fd)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


def _close_all_but(keep: set[int]) -> None:
    """Close every file descriptor not in `keep` (the template's socket, other pipes, library files)."""
    bounds = sorted(keep)
    for low, high in zip([-1, *bounds], [*bounds, 1 << 20]):
        if high > low + 1:  # os.closerange(a, b) with b <= a closes everything from a on
            os.closerange(low + 1, high)


def _reap(*_):
    """SIGCHLD: collect every finished child, so none stays a zombie (or counts as a task)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def serve(control_fd: int) -> None:
    """The template: import what every worker needs, say ready, then fork one child per request."""
    import numpy  # noqa: F401
    import torch

    from autograder import families, lockdown, protocol, worker  # noqa: F401  (the worker's imports, warm)
    from autograder.checks import adapter  # noqa: F401

    torch.set_num_threads(1)
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, _reap)
    control.send(json.dumps({"ready": True}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST_BYTES, 4)
        if not message:
            return  # the checker is gone
        try:
            request = json.loads(message)
            if len(fds) != 4:
                raise ValueError(f"a spawn request carries 4 pipes, not {len(fds)}")
            child = os.fork()
            if child == 0:
                control.close()
                _run_child(fds, request)
            reply = {"spawned": True}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"[:500]}
        for fd in fds:
            os.close(fd)
        control.send(json.dumps(reply).encode())


# -- the checker's side -----------------------------------------------------------------------

class WarmChild:
    """One submission's worker forked from a template: its pipes and how it ended."""

    def __init__(self, template: WarmSandbox, to_worker: int, from_worker: int, errors: int, status: int):
        self.template = template
        self.to_worker, self.from_worker, self.stderr_fd, self.status_fd = to_worker, from_worker, errors, status
        self.code: int | None = None

    def poll(self) -> int | None:
        """The worker's exit code once it has ended, else None (never blocks)."""
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to `timeout` seconds (None: forever) for the exit code; None if still running."""
        if self.code is None and select.select([self.status_fd], [], [], timeout)[0]:
            text = os.read(self.status_fd, 64).decode(errors="replace").strip()
            self.code = int(text) if text.lstrip("-").isdigit() else -1
        return self.code

    def pids(self) -> list[processes.Listed]:
        """The live processes of this submission: everything below the template."""
        return self.template.children()

    def reap(self) -> None:
        """After the kill: the template collects the processes; their exit status is read if it comes."""
        self.wait(1.0)

    def release(self) -> None:
        """Close this child's pipes (the template lives on for the next submission)."""
        for fd in (self.from_worker, self.stderr_fd, self.status_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class WarmSandbox:
    """A template process in the sandbox (see the module docstring), owned by one grading job."""

    def __init__(self, mounts: list[tuple[str, str]], limits: sandbox.Limits):
        from autograder.fair_share import FairShare

        self.limits = limits
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.share = FairShare.create(limits.tasks, limits.cpus)
        share = self.share

        def confine():  # in bubblewrap's process, between fork and exec: the template's own limits
            limits.apply()
            if share is not None:
                share.join()

        self.process = subprocess.Popen(
            sandbox.template_command(theirs.fileno(), mounts), pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=sandbox.worker_environment(), preexec_fn=confine, cwd="/tmp")
        theirs.close()
        self.control = ours
        self.bwrap = processes.of_child(self.process.pid)  # before anything waits for it: its PID is still its own
        try:
            reply = self._receive(READY_TIMEOUT)
            if not reply.get("ready"):
                raise TemplateFailed(f"the template did not start: {reply}")
            self.template = self._find_template()
        except BaseException:
            self.close()
            raise

    def _receive(self, timeout: float) -> dict:
        if not select.select([self.control], [], [], timeout)[0]:
            raise TemplateFailed(f"the template did not answer within {timeout:.0f} s")
        message = self.control.recv(MAX_REQUEST_BYTES)
        if not message:
            tail = self.process.stderr.read1(4000).decode(errors="replace") if self.process.poll() is not None else ""
            raise TemplateFailed(f"the template ended (exit status {self.process.poll()}) {tail}".strip())
        return json.loads(message)

    def _find_template(self) -> processes.Listed:
        """The template's Python process, below bubblewrap (which runs its own small init)."""
        for record in processes.descendants(self.bwrap):
            with contextlib.suppress(OSError):
                with open(f"/proc/{record.pid}/cmdline", "rb") as fh:
                    if b"autograder.warm_sandbox" in fh.read() and not self._is_bwrap(record.pid):
                        return record
        raise TemplateFailed("the template's process was not found")

    @staticmethod
    def _is_bwrap(pid: int) -> bool:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip() == "bwrap"

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[processes.Listed]:
        """Every live process below the template: the current submission's (one at a time)."""
        return processes.descendants(self.template)

    def spawn(self, limits: sandbox.Limits) -> WarmChild:
        """Fork a confined worker for one submission; returns its pipes (the cells are sent by the caller)."""
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        errors_r, errors_w = os.pipe()
        status_r, status_w = os.pipe()
        theirs = [to_worker_r, from_worker_w, errors_w, status_w]
        request = {"limits": limits.__dict__, "drop_to": sandbox.NOBODY, "environment": sandbox.worker_environment()}
        try:
            socket.send_fds(self.control, [json.dumps(request).encode()], theirs)
            reply = self._receive(SPAWN_TIMEOUT)
        except (OSError, TemplateFailed, ValueError):
            for fd in theirs + [to_worker_w, from_worker_r, errors_r, status_r]:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if not reply.get("spawned"):
            for fd in (to_worker_w, from_worker_r, errors_r, status_r):
                os.close(fd)
            raise TemplateFailed(f"the template could not start a worker: {reply.get('error')}")
        return WarmChild(self, to_worker_w, from_worker_r, errors_r, status_r)

    def close(self) -> None:
        """Stop the template and everything below it (each through a pidfd, while it is the process listed)."""
        processes.kill([self.bwrap, *processes.descendants(self.bwrap)], between=self.process.wait)
        with contextlib.suppress(OSError):
            self.control.close()
        if self.process.stderr:
            self.process.stderr.close()
        if self.share is not None:
            self.share.remove()
            self.share = None


_TEMPLATES: dict[tuple, WarmSandbox] = {}


def template_for(mounts: list[tuple[str, str]], limits: sandbox.Limits) -> WarmSandbox:
    """This process's template for these mounts and limits, started on first use and restarted if it died.

    A grading job's pool process keeps it for all its submissions; it is stopped when that
    process exits normally (bubblewrap's --die-with-parent covers the rest).
    """
    from multiprocessing import util

    key = (tuple(map(tuple, mounts)), limits)
    template = _TEMPLATES.get(key)
    if template is None or not template.alive():
        if template is not None:
            template.close()
        if not _TEMPLATES:
            util.Finalize(None, close_all, exitpriority=10)
        template = _TEMPLATES[key] = WarmSandbox(list(mounts), limits)
    return template


def close_all() -> None:
    """Stop every template this process started (at the end of a grading job)."""
    while _TEMPLATES:
        _TEMPLATES.popitem()[1].close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
