"""Processes named so that a reused PID is never mistaken for them: listing, usage, killing.

A PID is free for reuse once its process has ended and been reaped, and PIDs wrap quickly (with
pid_max at 32768 a busy grader goes round in minutes). A signal sent to a PID read earlier may
therefore reach an unrelated process that has the number since, a JupyterLab server or a
database a test started, say. So every process the grader lists is a `Listed(pid, start)`:
`start` is its start time (field 22 of /proc/PID/stat, clock ticks after boot, written by the
kernel), and the pair names one process for good. Killing goes through a pidfd (`hold`): opened
first, then the start time read again, and kept only when it still matches, so that it refers to
the listed process and not to a newcomer with its PID. A pidfd keeps referring to its process
after the number is reused; signalling through it (`pidfd_send_signal`) and waiting on it (it
turns readable when the process has ended) reach no one else.

Used by the checker's side of the sandbox: `worker_process`, `warm_sandbox`, `fair_share`.
"""
from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Listed:
    """One process: its PID and its start time (clock ticks after boot), as /proc showed them."""

    pid: int
    start: int


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


_PPID, _START = 1, 19  # fields 4 and 22 of /proc/PID/stat, counted from the state (field 3)


def listed(pid: int) -> Listed | None:
    """The process that has `pid` now, or None."""
    fields = _stat(pid)
    try:
        return Listed(pid, int(fields[_START])) if fields else None
    except (IndexError, ValueError):
        return None


def is_running(record: Listed) -> bool:
    """True while the listed process exists (a zombie included): its PID still has its start time."""
    return listed(record.pid) == record


def descendants(root: Listed) -> list[Listed]:
    """Every live process below `root` (children, grandchildren, ...), found through /proc.

    A process counts as a child of `parent` only if /proc named `parent`'s PID as its parent, it
    started no earlier than `parent`, and `parent` still runs once every entry has been read: then
    the PID named `parent` throughout (a newcomer with a dead parent's PID has no say).
    """
    children: dict[int, list[Listed]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            try:
                children.setdefault(int(fields[_PPID]), []).append(Listed(int(entry), int(fields[_START])))
            except (TypeError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        if not is_running(parent):
            continue  # ended (or never was): what named its PID as parent may name another process
        for child in children.get(parent.pid, []):
            if child.start >= parent.start:
                found.append(child)
                frontier.append(child)
    return found


def usage(records: Iterable[Listed]) -> tuple[float, int]:
    """CPU seconds and the largest peak resident memory (MB) of these processes, read from /proc.

    Each process's own time plus that of the children it has reaped (stat fields utime, stime,
    cutime, cstime), so a worker inside bubblewrap's PID namespace counts whoever reaped it;
    the kernel writes these figures, the student's process cannot change them.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    for record in records:
        fields = _stat(record.pid)
        try:
            if fields is None or int(fields[_START]) != record.start:
                continue  # gone meanwhile (its time went to the parent that reaped it), or another process
            cpu += sum(int(value) for value in fields[11:15]) / ticks
            with open(f"/proc/{record.pid}/status") as fh:
                hwm = [line.split()[1] for line in fh if line.startswith("VmHWM:")]
            peak = max([peak] + [int(kb) // 1024 for kb in hwm])
        except (OSError, IndexError, ValueError):
            continue
    return cpu, peak


class Held:
    """A process held for signalling and waiting: its pidfd, or where none could be opened its record.

    Without a pidfd (Linux before 5.3) the record is checked again right before each signal and
    while waiting: a far narrower window than a bare PID, though not none.
    """

    def __init__(self, record: Listed, fd: int | None):
        self.record, self.fd = record, fd

    def send(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the held process; nothing when it has ended."""
        try:
            if self.fd is not None:
                signal.pidfd_send_signal(self.fd, sig)
            elif is_running(self.record):
                os.kill(self.record.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def ended(self) -> bool:
        """True once the process has ended (a zombie awaiting its parent counts as ended). Never blocks."""
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], 0)[0])
        fields = _stat(self.record.pid)
        return fields is None or int(fields[_START]) != self.record.start or fields[0] in ("Z", "X")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def hold(record: Listed, still: Callable[[], bool] | None = None) -> Held | None:
    """The listed process held (see `Held`), or None if it is gone or its PID now names another process.

    The pidfd is opened first and the process checked afterwards: by its start time, and with
    `still` (say, that it is still in a cgroup) if given. If the listed process had ended and its
    PID been reused before the pidfd was opened, the check sees the newcomer and fails; if it
    ends after, the pidfd refers to it, dead, and reaches no one.
    """
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    except (AttributeError, OSError):  # no pidfds here (before Linux 5.3), or no descriptor to spare
        fd = None
    held = Held(record, fd)
    if is_running(record) and (still is None or still()):
        return held
    held.close()
    return None


def hold_all(records: Iterable[Listed]) -> list[Held]:
    return [held for held in map(hold, records) if held is not None]


def wait_ended(held: list[Held], seconds: float = 10.0) -> bool:
    """Wait up to `seconds` until every held process has ended; True if they all have."""
    end = time.monotonic() + seconds
    waiting = [h for h in held if not h.ended()]
    while waiting:
        left = end - time.monotonic()
        if left <= 0:
            return False
        fds = [h.fd for h in waiting if h.fd is not None]
        if fds and len(fds) == len(waiting):
            select.select(fds, [], [], left)
        else:
            time.sleep(min(0.01, left))
        waiting = [h for h in waiting if not h.ended()]
    return True


def release(held: list[Held]) -> None:
    for h in held:
        h.close()


def kill(records: Iterable[Listed], seconds: float = 10.0, between: Callable[[], None] | None = None) -> bool:
    """SIGKILL every listed process that is still the one listed, then wait until each has ended.

    between(): run after the signals and before the wait (collecting a child's exit status, say).
    True when every one has ended within `seconds`.
    """
    held = hold_all(records)
    try:
        for h in held:
            h.send(signal.SIGKILL)
        if between is not None:
            between()
        return wait_ended(held, seconds)
    finally:
        release(held)


def of_child(pid: int) -> Listed:
    """The record of a child this process started and has not waited for (so its PID cannot have been reused)."""
    record = listed(pid)
    if record is None:
        raise ProcessLookupError(f"process {pid} is not there")
    return record
