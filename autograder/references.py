"""Reference outputs in data/reference/: made by one command from the instructor solution.

`python -m autograder references` executes the solution cells of each graded chapter's source
notebook, asks the chapter's check module to build its reference arrays (each value is checked
against PyTorch there, and the build fails where they disagree), writes
data/reference/<chapter>.npz and records every file's SHA-256 in data/reference/checksums.json.
`load(chapter)` refuses a file whose checksum does not match: a tampered or stale reference
cannot silently change what the checks compare against.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from dlcourse import course

ROOT = course.ROOT
REFERENCE_DIR = course.REFERENCE_DIR
CHECKSUMS = REFERENCE_DIR / "checksums.json"
REBUILD_COMMAND = "python -m autograder references"


class ReferenceFileError(RuntimeError):
    """A reference file is missing, or differs from the checksum recorded when it was built."""


def solution_cells(chapter: str) -> dict[str, str]:
    """{grade_id: source} of the nbgrader solution cells of solutions/<chapter>/<chapter>.ipynb, in order."""
    return {cell["metadata"]["nbgrader"]["grade_id"]: cell["source"] for cell in course.source_cells(chapter, course.SOLUTION)}


def solution_namespace(chapter: str) -> dict:
    """Execute the instructor's solution cells (each is self-contained) and return their names."""
    namespace: dict = {"__name__": f"solution_{chapter}"}
    for grade_id, source in solution_cells(chapter).items():
        exec(compile(source, f"<{chapter}:{grade_id}>", "exec"), namespace)
    return namespace


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(chapter: str) -> dict[str, np.ndarray]:
    """The reference arrays of one chapter, after checking the file against its recorded SHA-256."""
    path = REFERENCE_DIR / f"{chapter}.npz"
    if not path.is_file():
        raise ReferenceFileError(f"missing reference file {path}; rebuild with `{REBUILD_COMMAND}`")
    recorded = json.loads(CHECKSUMS.read_text()).get(path.name) if CHECKSUMS.is_file() else None
    if recorded != _sha256(path):
        raise ReferenceFileError(f"reference file {path} does not match its recorded checksum "
                                 f"(tampered or stale); rebuild with `{REBUILD_COMMAND}`")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Deterministic .npz bytes (np.savez writes no timestamps that vary between runs)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **dict(sorted(arrays.items())))
    return buffer.getvalue()


def build(chapters: dict[str, object] | None = None) -> dict[str, str]:
    """Write every graded chapter's references and checksums; return {file name: sha256}."""
    from autograder.checks import chapter_modules

    modules = chapters or chapter_modules()
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    checksums = json.loads(CHECKSUMS.read_text()) if CHECKSUMS.is_file() else {}
    for chapter, module in modules.items():
        arrays = module.build_references(solution_namespace(chapter))  # raises where torch disagrees
        path = REFERENCE_DIR / f"{chapter}.npz"
        path.write_bytes(npz_bytes(arrays))
        checksums[path.name] = _sha256(path)
        print(f"wrote {path.relative_to(ROOT)}: {len(arrays)} arrays, sha256 {checksums[path.name][:12]}...")
    CHECKSUMS.write_text(json.dumps(dict(sorted(checksums.items())), indent=2) + "\n")
    return checksums
