"""How a student's code is confined while it is graded.

With bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) the worker sees, read-only, only
what it needs to run Python and torch: the system's /usr, /lib and /bin, a handful of files
from /etc (the dynamic linker's cache, the time zone, a passwd and group file naming only root
and nobody), the Python installation and virtualenv (with no other site-packages), and the
course's `autograder/` and `dlcourse/` packages; the library files that implement what the
exercise forbids are replaced by copies without it (`library_overlay`). Nothing else: not the
other submissions, not the gradebook, not the instructor's files, not /etc/shadow. It gets a
private 64 MB /tmp, no network, its own PID namespace (every process it starts dies with it),
a new session and no capability. When the grader runs as root (as in many containers), the
worker gives up root for the unprivileged `nobody` before it reads anything of the student's;
otherwise it runs as the grader's own user inside a user namespace. Resource limits apply on
top: address space (--memory), CPU seconds, file size, and, where the machine allows cgroups,
at most 64 tasks and one CPU for the whole worker (`fair_share`).
Without bubblewrap grading refuses to start unless `--sandbox none` is given, for a trusted batch
only (your own solutions, say).
"""
from __future__ import annotations

import functools
import glob
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
# What Python, numpy and torch read from /etc (the passwd and group files are our own).
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
             "/etc/host.conf")
PASSWD = f"root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = f"root:x:0:\nnogroup:x:{NOBODY}:\n"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


@dataclass(frozen=True)
class Limits:
    memory_gb: float = 4.0      # address space; `import torch` alone needs about 3 GB here
    cpu_seconds: int = 600      # backstop; the wall-clock timeout normally acts first
    file_mb: int = 64           # largest file the student's code may write (in its private /tmp)
    tasks: int = 64             # processes and threads of the whole worker (where cgroups allow)
    cpus: float = 1.0           # CPU share of the whole worker (where cgroups allow)

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


def drops_root() -> bool:
    """True when the worker must give up root itself: the grader is root, so no user namespace is used."""
    return os.geteuid() == 0


def worker_command(mode: str, read_fd: int, write_fd: int, mounts: list[tuple[str, str]] = ()) -> list[str]:
    """The command that starts `autograder.worker` confined according to `mode` ('bwrap' or 'none').

    mounts: (file on this machine, path in the sandbox) pairs shown read-only over what is there
    (`prepare` makes them).
    """
    python = [sys.executable, "-I", "-m", "autograder.worker", str(read_fd), str(write_fd)]
    if mode == "none":
        return python
    if mode != "bwrap":
        raise ValueError(f"unknown sandbox mode {mode!r}; use 'bwrap' or 'none'")
    if drops_root():
        # No user namespace: the worker keeps only the two capabilities it needs to become nobody.
        identity = _ROOT_IDENTITY + ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        python.append(f"--drop-to={NOBODY}")
    else:
        identity = ["--unshare-all", "--cap-drop", "ALL"]
    return _bwrap(mounts, identity, python)


def template_command(control_fd: int, mounts: list[tuple[str, str]] = ()) -> list[str]:
    """The command that starts a warm template (`autograder.warm_sandbox`) in the same sandbox as a worker.

    Only as root: besides the capabilities to become nobody, the template keeps CAP_SYS_ADMIN to
    give each submission's child namespaces and a /tmp of its own. It never runs student code;
    the child gives up root, and with it every capability, before the first student statement.
    """
    if not drops_root():
        raise SandboxUnavailable("warm sandboxes need the grader to run as root; grading starts a cold worker instead")
    identity = _ROOT_IDENTITY + ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SYS_ADMIN"]
    return _bwrap(mounts, identity, [sys.executable, "-I", "-m", "autograder.warm_sandbox", str(control_fd)])


_ROOT_IDENTITY = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                  "--cap-drop", "ALL"]


def _bwrap(mounts: list[tuple[str, str]], identity: list[str], python: list[str]) -> list[str]:
    """bubblewrap around `python`: the system and the course read-only, a private /tmp, `identity`'s namespaces."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`, "
                                 "or grade a trusted batch with `--sandbox none`")
    overlays = []
    for source, target in mounts:
        overlays += ["--ro-bind", source, target]
    return [bwrap, *system_mounts(), "--dev", "/dev", "--proc", "/proc",
            "--size", str(64 * 1024**2), "--perms", "1777", "--tmpfs", "/tmp", *course_mounts(), *overlays, "--chdir", "/tmp",
            *identity, "--die-with-parent", "--new-session",
            "--setenv", "PYTHONPATH", str(ROOT), "--setenv", "HOME", "/tmp",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
            "--", *python]


def system_mounts() -> list[str]:
    """The system, read-only (a missing folder is skipped), and of /etc only what Python needs."""
    mounts = []
    for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        mounts += ["--ro-bind-try", folder, folder]
    mounts += ["--perms", "0755", "--dir", "/etc"]
    for path in ETC_FILES:
        mounts += ["--ro-bind-try", path, path]
    return mounts


def _foreign_site_packages() -> list[Path]:
    """Package folders of other Python installations the sandbox would otherwise show (not the venv's)."""
    ours = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    base = Path(sys.base_prefix).resolve()
    candidates = [base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"]
    candidates += [Path(p) for p in glob.glob("/usr/lib/python3*/dist-packages") + glob.glob("/usr/local/lib/python3*/dist-packages")
                   + glob.glob("/usr/lib/python3*/site-packages") + glob.glob("/usr/local/lib/python3*/site-packages")]
    return sorted({p.resolve() for p in candidates if p.is_dir()} - ours)


def course_mounts() -> list[str]:
    """Python and the course's packages, mounted after /tmp's tmpfs so they show even if they live there;
    then every other installation's site-packages hidden under an empty tmpfs."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sys.executable).resolve().parent, ROOT / "autograder", ROOT / "dlcourse"}
    # The folders above them are made by bubblewrap: make them traversable for the unprivileged
    # user (bubblewrap would make them 0700, and nobody could reach Python).
    parents = {parent for path in paths for parent in path.parents if parent != Path("/")}
    mounts = []
    for parent in sorted(parents - paths, key=lambda p: len(p.parts)):
        if not any(parent == Path(top) or Path(top) in parent.parents for top in ("/usr", "/lib", "/lib64", "/bin")) \
                and parent != Path("/tmp"):
            mounts += ["--perms", "0755", "--dir", str(parent)]
    for path in sorted(paths, key=lambda p: len(p.parts)):
        mounts += ["--ro-bind", str(path), str(path)]
    for folder in _foreign_site_packages():
        mounts += ["--tmpfs", str(folder), "--remount-ro", str(folder)]
    return mounts


def cache_folder() -> Path:
    """Where the sandbox's prepared files live between runs (the user's cache, as XDG says)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcourse" / "sandbox"


def prepare(families, folder: Path | None = None) -> list[tuple[str, str]]:
    """Files the sandbox shows over the originals: our passwd and group, and the library without
    the forbidden `families` (`library_overlay.build`). Written once under `folder`."""
    from autograder import library_overlay

    folder = folder or cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    etc = folder / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    for path in (etc, etc / "passwd", etc / "group"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return [(str(etc / "passwd"), "/etc/passwd"), (str(etc / "group"), "/etc/group"),
            *library_overlay.build(list(families), folder / "library")]


@functools.cache
def imports_course_from() -> Path:
    """Where this Python, isolated as the sandbox starts it (`python -I`), finds `autograder`: it must be ROOT's.

    A checkout that borrows another checkout's virtualenv finds that one's course (the editable
    install points there), and its sandboxed workers could not even import the grader.
    """
    found = subprocess.run([sys.executable, "-I", "-c", "import autograder; print(autograder.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd="/")
    return Path(found.stdout.strip()).resolve().parent if found.returncode == 0 else Path("(nowhere)")


def check_interpreter() -> None:
    """Raise SandboxUnavailable, saying what to do, if sandboxed workers would import another course than ROOT's."""
    imported = imports_course_from()
    if imported != ROOT / "autograder":
        raise SandboxUnavailable(
            f"this Python ({sys.prefix}) gives sandboxed code the course in {imported.parent}, not this checkout "
            f"({ROOT}): the sandbox starts Python isolated, so each checkout needs its own virtualenv. Run "
            f"`make venv` in {ROOT} (or `pip install -e {ROOT}` in this environment) and grade with its Python")


def worker_environment() -> dict[str, str]:
    """A small, predictable environment: nothing of the grader's own secrets or settings leaks in."""
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"PYTHONPATH": str(ROOT), "HOME": "/tmp", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"})
    return env
