"""Execute a notebook top to bottom in a fresh kernel, the way the tests and `make course` need it."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def all_notebooks(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(path: Path, fast: bool = True, timeout: int = 600, allow_errors: bool = True):
    """Run `path` in a new python3 kernel with its folder as working directory.

    The kernel keeps Jupyter's own matplotlib backend (inline), as in a student's lab, so the
    executed notebook holds the figures a student would see.

    Returns (executed notebook, seconds). By default errors do not stop execution, so the caller
    decides which cells may fail and can report every failure at once. With allow_errors=False the
    run stops where JupyterLab's Run All would: at an error in a cell not tagged `raises-exception`
    (nbclient raises CellExecutionError).
    """
    nb = nbformat.read(path, as_version=4)
    env_fast = os.environ.get("DLCOURSE_FAST")
    os.environ["DLCOURSE_FAST"] = "1" if fast else "0"
    try:
        # Local sockets (IPC) in a private folder, not TCP: nothing listens on a port, and the
        # kernel has no reason to print its "running over TCP without encryption" warning.
        with tempfile.TemporaryDirectory(prefix="dlcourse-kernel-") as sockets:
            kernel = KernelManager(kernel_name="python3", transport="ipc",
                                   ip=os.path.join(sockets, "kernel"))
            client = NotebookClient(nb, km=kernel, timeout=timeout, allow_errors=allow_errors,
                                    resources={"metadata": {"path": str(path.parent)}})
            try:
                started = time.perf_counter()
                client.execute()
                return nb, time.perf_counter() - started
            finally:  # nbclient shuts down only kernels it created itself
                if kernel.has_kernel:
                    kernel.shutdown_kernel(now=True)
    finally:
        if env_fast is None:
            os.environ.pop("DLCOURSE_FAST", None)
        else:
            os.environ["DLCOURSE_FAST"] = env_fast


def figures(nb) -> int:
    """How many images the notebook's code cells displayed (the kernel's inline backend sends PNGs)."""
    return sum("image/png" in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def cell_errors(nb) -> list[tuple[int, dict, str]]:
    """(index, cell, "Ename: message") for every code cell that raised."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, cell, f"{output['ename']}: {output['evalue']}"))
    return found


def is_graded_stub_or_test(cell) -> bool:
    """nbgrader solution cells (left for the student) and autograded test cells may fail in notebooks/."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def main(argv: list[str] | None = None) -> int:
    """`python tests/notebook_runner.py [--fast] [FOLDER]`: run every chapter, print each run time."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", nargs="?", default="solutions", choices=["solutions", "notebooks"])
    parser.add_argument("--fast", action="store_true", help="fast mode (DLCOURSE_FAST=1), as the tests run")
    args = parser.parse_args(argv)
    failed = 0
    for path in all_notebooks(args.folder):
        nb, seconds = execute(path, fast=args.fast)
        errors = cell_errors(nb)
        failed += bool(errors)
        status = "ok" if not errors else "FAILED: " + "; ".join(f"cell {i}: {m}" for i, _, m in errors)
        print(f"{path.relative_to(ROOT)}: {seconds:.1f} s ({'fast' if args.fast else 'full'} mode) {status}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
