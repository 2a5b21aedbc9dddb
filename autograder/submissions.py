"""Finding the submissions in what an instructor hands the grader, and reading a student's code.

Accepted: `.ipynb` files (student id = file stem); folders holding such files, or
`<student>/<notebook>.ipynb`, or nbgrader's `<student>/<assignment>/<notebook>.ipynb`; and
`.zip` files as an LMS exports them (Moodle's `Name_123_assignsubmission_file_/` folders and
Canvas's `name_123_456_file.ipynb` names are recognised). Nothing is modified or deleted.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_ZIP_BYTES = 2 * 1024**3
MAX_NOTEBOOK_BYTES = 50 * 1024**2
_CANVAS = re.compile(r"^(?P<student>[^_]+(?:_late)?_\d+)_\d+_.+$", re.IGNORECASE)
_MOODLE_SUFFIX = re.compile(r"_assignsubmission_\w+_?$")


class SubmissionError(ValueError):
    """The submissions given cannot be graded as a batch (e.g. two share a student id)."""


@dataclass
class Submission:
    student_id: str
    path: Path                       # where the notebook is (inside a temporary folder for zips)
    origin: str                      # what the instructor gave, for messages
    sha256: str = ""
    problems: list[str] = field(default_factory=list)


def _clean_id(raw: str) -> str:
    raw = _MOODLE_SUFFIX.sub("", raw)
    canvas = _CANVAS.match(raw)
    if canvas:
        raw = canvas.group("student").replace("_late", "").replace("_LATE", "")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._-")
    return cleaned or "unnamed"


def _notebooks_in(folder: Path, assignment: str, origin: str) -> list[Submission]:
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if any(part in (".ipynb_checkpoints", "__MACOSX") or part.startswith(".") for part in rel.parts):
            continue
        student = rel.stem if len(rel.parts) == 1 else rel.parts[0]
        found.append(Submission(_clean_id(student), path, f"{origin}/{rel.as_posix()}"))
    # One notebook per student: prefer the one named after the assignment.
    by_student: dict[str, list[Submission]] = {}
    for sub in found:
        by_student.setdefault(sub.student_id, []).append(sub)
    chosen = []
    for student, subs in by_student.items():
        if len(subs) == 1:
            chosen.append(subs[0])
            continue
        named = [s for s in subs if s.path.stem == assignment]
        pick = named[0] if len(named) == 1 else subs[0]
        if len(named) != 1:
            pick.problems.append(f"several notebooks ({', '.join(s.origin for s in subs)}); graded {pick.origin}")
        chosen.append(pick)
    return chosen


def _safe_extract(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise SubmissionError(f"{archive}: refusing the unsafe path {info.filename!r} in the zip")
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise SubmissionError(f"{archive}: more than {MAX_ZIP_BYTES >> 30} GB uncompressed")
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if is_link:
                continue
            zf.extract(info, into)


def collect(paths: list[Path], assignment: str, workdir: Path | None = None) -> list[Submission]:
    """Every submission in `paths`, sorted by student id; SubmissionError on duplicate ids."""
    found: list[Submission] = []
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise SubmissionError(f"{given}: no such file or folder")
        if given.is_dir():
            found += _notebooks_in(given, assignment, str(given))
        elif given.suffix == ".ipynb":
            found.append(Submission(_clean_id(given.stem), given, str(given)))
        elif given.suffix == ".zip":
            target = Path(tempfile.mkdtemp(prefix="zip-", dir=workdir))
            _safe_extract(given, target)
            found += _notebooks_in(target, assignment, str(given))
        else:
            raise SubmissionError(f"{given}: not a notebook (.ipynb), a folder or a .zip")
    seen: dict[str, Submission] = {}
    for sub in found:
        if sub.student_id in seen:
            raise SubmissionError(f"two submissions for student id {sub.student_id!r}: "
                                  f"{seen[sub.student_id].origin} and {sub.origin}; rename one and grade again")
        seen[sub.student_id] = sub
        sub.sha256 = hashlib.sha256(sub.path.read_bytes()).hexdigest()
    return sorted(seen.values(), key=lambda s: s.student_id)


def defined_names(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}


def solution_cells(path: Path, parts: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The student's code for each graded part, in order, and the problems met reading it.

    A part's cell is the solution cell carrying its grade_id; if the metadata was removed or
    altered, the last code cell that defines the part's name. Nothing else the student wrote runs.
    """
    problems = []
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return [], [f"the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MB"]
    try:
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError) as exc:
        return [], [f"not a readable notebook ({type(exc).__name__}: {exc})"]

    def source_of(cell) -> str:
        source = cell.get("source", "")
        return "".join(source) if isinstance(source, list) else str(source)

    chosen = []
    for part in parts:
        tagged = [c for c in cells if isinstance(c.get("metadata"), dict)
                  and isinstance(c["metadata"].get("nbgrader"), dict)
                  and c["metadata"]["nbgrader"].get("grade_id") == part
                  and c["metadata"]["nbgrader"].get("solution")]
        candidates = [c for c in tagged if part in defined_names(source_of(c))]
        if not candidates:
            candidates = [c for c in cells if part in defined_names(source_of(c))]
            if candidates:
                problems.append(f"{part}: its solution cell's nbgrader metadata was changed; graded the cell that defines {part}")
        if not candidates:
            problems.append(f"{part}: no cell defines it")
            continue
        chosen.append((part, source_of(candidates[-1])))
    return chosen, problems
