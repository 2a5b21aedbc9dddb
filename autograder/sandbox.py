"""How a student's code is confined while it is graded.

With bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) the worker sees, read-only, only
what it needs to run Python and torch: the system's /usr, /lib, /bin and /etc, the Python
installation and virtualenv, and the course's `autograder/` and `dlcourse/` packages. Nothing
else: not the other submissions, not the gradebook, not the instructor's files. It gets a private
64 MB /tmp, no network, its own PID namespace (so every process it starts dies with it) and a
new session. Resource limits apply on top: address space (--memory),
CPU seconds, file size. Without bubblewrap grading refuses to start unless `--sandbox none` is
given, for a trusted batch only (your own solutions, say).
"""
from __future__ import annotations

import os
import resource
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


@dataclass(frozen=True)
class Limits:
    memory_gb: float = 4.0      # address space; `import torch` alone needs about 3 GB here
    cpu_seconds: int = 600      # backstop; the wall-clock timeout normally acts first
    file_mb: int = 64           # largest file the student's code may write (in its private /tmp)

    def apply(self) -> None:
        """Set the limits in the current process (called between fork and exec)."""
        memory = int(self.memory_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_mb * 1024**2,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def worker_command(mode: str, read_fd: int, write_fd: int) -> list[str]:
    """The command that starts `autograder.worker` confined according to `mode` ('bwrap' or 'none')."""
    python = [sys.executable, "-I", "-m", "autograder.worker", str(read_fd), str(write_fd)]
    if mode == "none":
        return python
    if mode != "bwrap":
        raise ValueError(f"unknown sandbox mode {mode!r}; use 'bwrap' or 'none'")
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`, "
                                 "or grade a trusted batch with `--sandbox none`")
    return [bwrap, *read_only_mounts(), "--dev", "/dev", "--proc", "/proc",
            "--size", str(64 * 1024**2), "--tmpfs", "/tmp", *course_mounts(), "--chdir", "/tmp",
            "--unshare-all", "--die-with-parent", "--new-session",
            "--setenv", "PYTHONPATH", str(ROOT), "--setenv", "HOME", "/tmp",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
            "--", *python]


def read_only_mounts() -> list[str]:
    """The system and the Python installation, read-only (a missing system folder is skipped)."""
    mounts = []
    for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"):
        mounts += ["--ro-bind-try", folder, folder]
    return mounts


def course_mounts() -> list[str]:
    """Python and the course's packages, mounted after /tmp's tmpfs so they show even if they live there."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sys.executable).resolve().parent, ROOT / "autograder", ROOT / "dlcourse"}
    mounts = []
    for path in sorted(paths, key=lambda p: len(p.parts)):
        mounts += ["--ro-bind", str(path), str(path)]
    return mounts


def worker_environment() -> dict[str, str]:
    """A small, predictable environment: nothing of the grader's own secrets or settings leaks in."""
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"PYTHONPATH": str(ROOT), "HOME": "/tmp", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"})
    return env
