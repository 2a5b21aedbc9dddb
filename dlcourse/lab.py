"""Start JupyterLab on the course: the student's lab (`make lab`) or the instructor's formgrader.

The student's lab hides nbgrader's instructor tools (the Create Assignment sidebar and the
formgrader) through a Jupyter configuration folder of its own, `jupyter_student/`, put first on
JUPYTER_CONFIG_PATH for this server only: nothing in the user's ~/.jupyter changes. Kernels
inherit the user's environment as it is, so figures use Jupyter's inline backend.

The port and the token are chosen here, before JupyterLab starts, so the address printed first is
the one the server really uses (the next free port if the one asked for is taken).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDENT_CONFIG = Path(__file__).resolve().parent / "jupyter_student"


def port_is_free(port: int) -> bool:
    """True when nothing listens on `port` (on any interface, as JupyterLab may bind them all)."""
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def first_free_port(wanted: int, tries: int = 50) -> int:
    """`wanted` if it is free, else the next free one above it."""
    for port in range(wanted, wanted + tries):
        if port_is_free(port):
            return port
    raise SystemExit(f"ports {wanted}-{wanted + tries - 1} are all taken: choose another, e.g. `make lab PORT=9000`")


def command(root: Path, default_url: str, port: int, token: str, environ: dict) -> list[str]:
    """The `jupyter lab` command line: headless when there is no display, --allow-root as root."""
    jupyter = shutil.which("jupyter", path=environ.get("PATH")) or str(Path(sys.executable).with_name("jupyter"))
    args = [jupyter, "lab", f"--ServerApp.root_dir={root}", f"--LabApp.default_url={default_url}",
            f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if not environ.get("DISPLAY") and sys.platform != "darwin":
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # Docker and Colab-like machines run as root
    return args


def student_environment(environ: dict) -> dict:
    """The user's environment with the student's Jupyter configuration first on JUPYTER_CONFIG_PATH."""
    paths = [str(STUDENT_CONFIG)] + [p for p in environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    return dict(environ, JUPYTER_CONFIG_PATH=os.pathsep.join(paths))


def main(argv: list[str] | None = None) -> None:
    """`python -m dlcourse.lab [--port N] [--formgrader DIR]`: print the address, then become JupyterLab."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--formgrader", metavar="DIR", type=Path,
                        help="the --out folder of a `python -m autograder grade` run: grade its written answers")
    args = parser.parse_args(argv)
    port = first_free_port(args.port)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    if args.formgrader:
        course = args.formgrader.resolve() / "nbgrader"
        if not (course / "nbgrader_config.py").is_file():
            raise SystemExit(f"{args.formgrader} is not the --out folder of a grade run "
                             "(no nbgrader/nbgrader_config.py in it)")
        root, default_url, env, what = course, "/formgrader", dict(os.environ), "The formgrader"
    else:
        root, default_url, env, what = ROOT, "/lab/tree/notebooks", student_environment(os.environ), "The course"
    moved = f" (port {args.port} is taken)" if port != args.port else ""
    print(f"\n{what} opens at http://localhost:{port}{default_url}?token={token}{moved}\n"
          "(stop it with Ctrl-C)\n", flush=True)
    os.chdir(root)
    lab = command(root, default_url, port, token, env)
    os.execve(lab[0], lab, env)


if __name__ == "__main__":
    main()
