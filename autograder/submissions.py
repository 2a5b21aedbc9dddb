"""Finding the submissions in what an instructor hands the grader, and reading a student's code.

Accepted: `.ipynb` files (student id = file stem); folders holding such files, or
`<student>/<notebook>.ipynb`, or nbgrader's `<student>/<assignment>/<notebook>.ipynb`; and
`.zip` files as an LMS exports them (Moodle's `Name_123_assignsubmission_file_/` folders and
Canvas's `name_123_456_file.ipynb` names are recognised). Nothing is modified or deleted.

nbgrader's layout is what `nbgrader collect` makes in the course's `submitted/`: there, the other
assignments' folders (`<student>/<other assignment>/`) are left alone, and the receipts `nbgrader
submit` wrote beside the notebook (`timestamp.txt`, `submission_secret.txt`) go with the
submission, so that the grader's gradebook can release feedback through the exchange.

Only regular files are submissions. A symbolic link is never followed (in a folder, in nbgrader's
layout, in a zip, or named on the command line: a link to the instructor's solution is still a
link); a folder named like a notebook, a pipe, an over-large or unsafe zip entry: each becomes a
row of its own with score 0 and the reason, and the rest of the batch is graded. The folders and
zips the instructor names on the command line are the instructor's, and are opened as given.
"""
from __future__ import annotations

import ast
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_ZIP_BYTES = 2 * 1024**3
MAX_NOTEBOOK_BYTES = 50 * 1024**2
_CANVAS = re.compile(r"^(?P<student>[^_]+(?:_late)?_\d+)_\d+_.+$", re.IGNORECASE)
_MOODLE_SUFFIX = re.compile(r"_assignsubmission_\w+_?$")
_SKIPPED_FOLDERS = (".ipynb_checkpoints", "__MACOSX")
EXCHANGE_RECEIPTS = ("timestamp.txt", "submission_secret.txt")  # what `nbgrader submit` writes beside the notebook
MAX_RECEIPT_BYTES = 1024
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})? UTC\s*")  # nbgrader's default format
_SECRET = re.compile(r"[0-9a-f]{1,256}")                                           # secrets.token_hex, as submit makes it


class SubmissionError(ValueError):
    """The submissions given cannot be graded as a batch (e.g. two share a student id)."""


@dataclass
class Submission:
    student_id: str
    path: Path                       # where the notebook is (inside a temporary folder for zips)
    origin: str                      # what the instructor gave, for messages
    sha256: str = ""
    problems: list[str] = field(default_factory=list)
    unusable: str | None = None      # why this entry cannot be graded at all (it scores 0)
    receipts: dict[str, str] = field(default_factory=dict)  # {EXCHANGE_RECEIPTS name: text}, nbgrader's layout only


def _clean_id(raw: str) -> str:
    raw = _MOODLE_SUFFIX.sub("", raw)
    canvas = _CANVAS.match(raw)
    if canvas:
        raw = canvas.group("student").replace("_late", "").replace("_LATE", "")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._-")[:100]
    return cleaned or "unnamed"


def why_unusable(path: Path) -> str | None:
    """None if `path` is a regular file; otherwise what it is instead (never following a link)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return "a symbolic link, not a file: links are never followed"
    if stat.S_ISDIR(mode):
        return "a folder named like a notebook, not a notebook file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a device, a socket or a pipe)"
    return None


def _entries(folder: Path) -> list[Path]:
    """Every entry named *.ipynb below `folder`, files or not, without following any link."""
    found = []
    for top, folders, files in os.walk(folder, followlinks=False):
        kept = []
        for name in sorted(folders):
            if name.endswith(".ipynb") and not name.startswith("."):
                found.append(Path(top) / name)  # a folder named like a notebook: reported, not entered
            elif name not in _SKIPPED_FOLDERS and not name.startswith("."):
                kept.append(name)
        folders[:] = kept
        found += [Path(top) / name for name in sorted(files) if name.endswith(".ipynb") and not name.startswith(".")]
    return sorted(found)


def _in_nbgrader_layout(rel: PurePosixPath, assignment: str) -> bool:
    """True if `rel` is `<student>/<assignment>/<notebook>.ipynb`, as `nbgrader collect` lays it out."""
    return len(rel.parts) == 3 and rel.parts[1] == assignment


def _of_another_assignment(rel: PurePosixPath, assignment: str, nbgrader_layout: bool) -> bool:
    """True if `rel` is `<student>/<other assignment>/...` in a folder laid out as nbgrader's submitted/."""
    return nbgrader_layout and len(rel.parts) >= 3 and rel.parts[1] != assignment


def exchange_receipts(folder: Path) -> tuple[dict[str, str], list[str]]:
    """The receipts `nbgrader submit` left in `folder` ({name: exact text}), and why any was left out.

    nbgrader records the timestamp in the gradebook, and `release_feedback` names each feedback
    file after the secret, which is how the student's `fetch_feedback` finds it. The student could
    have written either file, so only what nbgrader itself writes is kept: a malformed timestamp
    would stop `nbgrader autograde` for the whole batch.
    """
    from nbgrader.utils import parse_utc

    receipts, problems = {}, []
    for name in EXCHANGE_RECEIPTS:
        path = folder / name
        if not os.path.lexists(path):
            continue
        try:
            text = read_regular_file(path, MAX_RECEIPT_BYTES).decode("ascii")
            pattern = _TIMESTAMP if name == "timestamp.txt" else _SECRET
            if not pattern.fullmatch(text):
                raise ValueError("not what nbgrader submit writes")
            if name == "timestamp.txt":
                parse_utc(text.strip())
        except (UnreadableNotebook, UnicodeDecodeError, ValueError, OverflowError) as exc:
            reason = "a symbolic link, or not a small regular file" if isinstance(exc, UnreadableNotebook) else str(exc)[:100]
            problems.append(f"{name} left out ({reason}): its feedback cannot be released through the exchange")
            continue
        receipts[name] = text
    return receipts, problems


def _notebooks_in(folder: Path, assignment: str, origin: str, unsafe: dict[str, str] = None) -> list[Submission]:
    """One submission per student found in `folder`; `unsafe`: {relative name: reason} of zip
    entries that were not extracted, reported as rows of their own."""
    found = []
    entries = [(path, PurePosixPath(path.relative_to(folder).as_posix())) for path in _entries(folder)]
    nbgrader_layout = any(_in_nbgrader_layout(rel, assignment) for _, rel in entries)
    for path, rel in entries:
        if _of_another_assignment(rel, assignment, nbgrader_layout):
            continue
        student = rel.stem if len(rel.parts) == 1 else rel.parts[0]
        sub = Submission(_clean_id(student), path, f"{origin}/{rel.as_posix()}", unusable=why_unusable(path))
        if _in_nbgrader_layout(rel, assignment) and sub.unusable is None:
            sub.receipts, problems = exchange_receipts(path.parent)
            sub.problems += problems
        found.append(sub)
    for name, reason in sorted((unsafe or {}).items()):
        rel = PurePosixPath(name)
        student = rel.stem if len(rel.parts) == 1 else rel.parts[0]
        found.append(Submission(_clean_id(student), folder / "unextracted", f"{origin}/{name}", unusable=reason))
    # One notebook per student: a usable one if there is any, preferably named after the assignment.
    by_student: dict[str, list[Submission]] = {}
    for sub in found:
        by_student.setdefault(sub.student_id, []).append(sub)
    chosen = []
    for subs in by_student.values():
        usable = [s for s in subs if s.unusable is None] or subs
        named = [s for s in usable if s.path.stem == assignment]
        pick = named[0] if len(named) == 1 else usable[0]
        if len(subs) > 1 and (len(named) != 1 or len(usable) < len(subs)):
            pick.problems.append(f"several entries ({', '.join(s.origin for s in subs)}); graded {pick.origin}")
        chosen.append(pick)
    return chosen


def _safe_extract(archive: Path, into: Path) -> dict[str, str]:
    """Extract the zip's regular files into `into`; return {entry name: reason} for each *.ipynb
    entry left out (a link, an unsafe path, too large)."""
    left_out = {}
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            notebook = info.filename.rstrip("/").endswith(".ipynb")
            if name.is_absolute() or ".." in name.parts:
                if notebook:
                    left_out[name.name] = f"a path that leaves the archive ({info.filename[:200]!r}): not extracted"
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                if notebook:
                    left_out[info.filename] = "a symbolic link, not a file: links are never followed"
                continue
            if not info.is_dir() and info.file_size > MAX_NOTEBOOK_BYTES:
                if notebook:
                    left_out[info.filename] = f"the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise SubmissionError(f"{archive}: more than {MAX_ZIP_BYTES >> 30} GB uncompressed")
            zf.extract(info, into)
    return left_out


def _fingerprint(sub: Submission) -> str:
    """SHA-256 of the notebook's bytes, or of the reason it cannot be graded."""
    if sub.unusable is None:
        try:
            return hashlib.sha256(read_regular_file(sub.path)).hexdigest()
        except UnreadableNotebook as exc:
            sub.unusable = str(exc)
    return hashlib.sha256(f"unusable:{sub.unusable}".encode()).hexdigest()


def collect(paths: list[Path], assignment: str, workdir: Path | None = None) -> list[Submission]:
    """Every submission in `paths`, sorted by student id; SubmissionError on duplicate ids."""
    found: list[Submission] = []
    for given in paths:
        given = Path(given)
        if not given.exists() and not given.is_symlink():
            raise SubmissionError(f"{given}: no such file or folder")
        if given.suffix == ".ipynb" and (given.is_symlink() or not given.is_dir()):
            found.append(Submission(_clean_id(given.stem), given, str(given), unusable=why_unusable(given)))
        elif given.is_dir():
            found += _notebooks_in(given, assignment, str(given))
        elif given.suffix == ".zip":
            target = Path(tempfile.mkdtemp(prefix="zip-", dir=workdir))
            try:
                left_out = _safe_extract(given, target)
            except (zipfile.BadZipFile, OSError) as exc:
                raise SubmissionError(f"{given}: not a readable zip archive ({exc})") from None
            found += _notebooks_in(target, assignment, str(given), left_out)
        else:
            raise SubmissionError(f"{given}: not a notebook (.ipynb), a folder or a .zip")
    seen: dict[str, Submission] = {}
    for sub in found:
        if sub.student_id in seen:
            raise SubmissionError(f"two submissions for student id {sub.student_id!r}: "
                                  f"{seen[sub.student_id].origin} and {sub.origin}; rename one and grade again")
        seen[sub.student_id] = sub
        sub.sha256 = _fingerprint(sub)
    return sorted(seen.values(), key=lambda s: s.student_id)


def defined_names(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}


MAX_CELL_CHARS = 100_000  # a graded part's cell; the instructor solutions are a few thousand


class UnreadableNotebook(ValueError):
    """The file is not a notebook the grader will read; the message says why."""


def read_regular_file(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of `path` if it is a regular file (never through a symbolic link) of at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UnreadableNotebook("a symbolic link, not a file: links are never followed" if exc.errno == errno.ELOOP
                                 else f"cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableNotebook("not a regular file (a folder, a device or a pipe)")
        if info.st_size > limit:
            raise UnreadableNotebook(f"the notebook is larger than {limit >> 20} MB")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnreadableNotebook(f"the notebook is larger than {limit >> 20} MB")
    return data


def read_notebook(path: Path) -> list[dict]:
    """The cells of the notebook at `path` (a regular file, at most MAX_NOTEBOOK_BYTES)."""
    try:
        nb = json.loads(read_regular_file(path).decode("utf-8", errors="replace"))
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("its cells are not a list")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        if isinstance(exc, UnreadableNotebook):
            raise
        raise UnreadableNotebook(f"not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})") from None
    return [c for c in cells if isinstance(c, dict)]


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def solution_cells(path: Path, parts: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The student's code for each graded part of the notebook at `path` (see `graded_code`)."""
    try:
        return graded_code(read_notebook(path), parts)
    except UnreadableNotebook as exc:
        return [], [str(exc)]


def graded_code(cells: list[dict], parts: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The student's code for each graded part, in order, and the problems met reading it.

    A part's cell is the solution cell carrying its grade_id; if the metadata was removed or
    altered, the last code cell that defines the part's name. Nothing else the student wrote runs.
    A cell longer than MAX_CELL_CHARS is not graded (its part fails with that reason).
    """
    cells = [c for c in cells if c.get("cell_type") == "code"]
    problems = []
    sized = []
    for cell in cells:
        source = cell_source(cell)
        sized.append((cell, source if len(source) <= MAX_CELL_CHARS else None))

    def grade_id(cell) -> str | None:
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        return meta.get("grade_id") if isinstance(meta, dict) and meta.get("solution") else None

    chosen = []
    for part in parts:
        defines = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(part)}\b", re.M)
        too_long = [c for c, source in sized if source is None and (grade_id(c) == part or defines.search(cell_source(c)))]
        tagged = [source for c, source in sized if source is not None and grade_id(c) == part and part in defined_names(source)]
        candidates = tagged
        if not candidates:
            candidates = [source for c, source in sized if source is not None and part in defined_names(source)]
            if candidates:
                problems.append(f"{part}: its solution cell's nbgrader metadata was changed; graded the cell that defines {part}")
        if not candidates:
            problems.append(f"{part}: its cell is longer than {MAX_CELL_CHARS:,} characters: not graded" if too_long
                            else f"{part}: no cell defines it")
            continue
        chosen.append((part, candidates[-1]))
    return chosen, problems
