"""Processes found through /proc: the tree below a process, its resource usage, killing it.

Used by the checker's side of the sandbox (`worker_process`, `warm_sandbox`, `fair_share`).
"""
from __future__ import annotations

import os
import signal
import time


def descendants(root: int) -> list[int]:
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


def tree_usage(pids: list[int]) -> tuple[float, int]:
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


def wait_until_gone(pids: list[int], seconds: float = 10.0) -> None:
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
