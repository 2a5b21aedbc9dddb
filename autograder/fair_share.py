"""A fair share for each sandboxed worker: at most so many tasks, at most one CPU, in a cgroup of its own.

Resource limits (setrlimit) are per process; a submission that starts a dozen busy threads or
processes would still take every core from its neighbours. A cgroup bounds the whole tree, and
nothing inside the sandbox can leave it (the cgroup file system is not mounted there and the
student's code has no privilege). Works with cgroup v1 (separate `pids` and `cpu` hierarchies)
and v2 (one unified hierarchy) where the grader may create cgroups (root, or a delegated
subtree). Where it may not, `create` returns None and the grader relies on what remains: the
worker refuses new processes (`autograder.lockdown`) and each process's address-space limit.
"""
from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

from autograder import processes

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def _v1_folder(controller: str) -> Path | None:
    folder = CGROUP_ROOT / controller
    return folder if (folder / "cgroup.procs").is_file() else None


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _write_if_there(path: Path, text: str) -> bool:
    """Write `text` into the existing file `path` (never creating it); False if it is not there or refuses."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, text.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class FairShare:
    """One cgroup (v2) or a pair of cgroups (v1 pids and cpu) for one worker and everything it starts."""

    def __init__(self, folders: list[Path]):
        self.folders = folders

    @classmethod
    def create(cls, tasks: int = 64, cpus: float = 1.0) -> FairShare | None:
        """A fresh cgroup with these limits, or None where this machine lets us make none."""
        name = f"dlcourse-{os.getpid()}-{secrets.token_hex(4)}"
        quota = str(int(cpus * PERIOD_US))
        try:
            pids, cpu = _v1_folder("pids"), _v1_folder("cpu")
            if pids and cpu and _writable(pids) and _writable(cpu):
                folders = [pids / "dlcourse" / name, cpu / "dlcourse" / name]
                for folder in folders:
                    folder.mkdir(parents=True)
                (folders[0] / "pids.max").write_text(str(tasks))
                (folders[1] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (folders[1] / "cpu.cfs_quota_us").write_text(quota)
                return cls(folders)
            if (CGROUP_ROOT / "cgroup.controllers").is_file() and _writable(CGROUP_ROOT):
                parent = CGROUP_ROOT / "dlcourse"
                parent.mkdir(exist_ok=True)
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+pids +cpu")
                (parent / "cgroup.subtree_control").write_text("+pids +cpu")
                folder = parent / name
                folder.mkdir()
                (folder / "pids.max").write_text(str(tasks))
                (folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                return cls([folder])
        except OSError:
            return None
        return None

    def join(self) -> None:
        """Move the calling process into the cgroup (run in the child between fork and exec)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def members(self) -> list[int]:
        """The PIDs of the processes in the cgroup (of either cgroup, with v1)."""
        pids = set()
        for folder in self.folders:
            try:
                pids |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return sorted(pids)

    def kill(self) -> None:
        """SIGKILL to every process in the cgroup, and to no other.

        Where cgroup v2 has `cgroup.kill` (Linux 5.14 and later) the kernel kills every member at
        once, naming no PID. Otherwise each member listed in cgroup.procs is held by a pidfd
        (`processes.hold`), the list read again, and only those still in it are signalled: a
        member that ended and whose PID went to a process outside the cgroup is left alone.
        """
        if self.folders and all(_write_if_there(folder / "cgroup.kill", "1") for folder in self.folders):
            return
        held = processes.hold_all(filter(None, map(processes.listed, self.members())))
        try:
            still = set(self.members())
            for process in held:
                if process.record.pid in still:
                    process.send(signal.SIGKILL)
        finally:
            processes.release(held)

    def remove(self, seconds: float = 10.0) -> None:
        """Kill whatever is still inside, then delete the cgroup."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.kill()
            for folder in list(self.folders):
                try:
                    folder.rmdir()
                    self.folders.remove(folder)
                except FileNotFoundError:
                    self.folders.remove(folder)
                except OSError:
                    pass
            if not self.folders:
                return
            time.sleep(0.02)
