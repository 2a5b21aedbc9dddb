"""The course model: its chapters, which are graded and how, where their files live, and the roles
of the nbgrader cells in their notebooks. Everything else derives from it: the titles,
`autograder.checks.CHAPTER_MODULES`, `autograder.grading.graded_assignments()`, the families the
sandbox locks for a chapter (`autograder.families`) and the chapter lists of the tests.

`GITHUB_REPOSITORY` is the one value a fork changes: the Colab badges and the Colab set-up cell
of every notebook, and the README's badges, are rewritten from it by `python -m autograder release`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

GITHUB_REPOSITORY = "dlcourse-org/dl-training-techniques"
DEFAULT_BRANCH = "main"

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"              # the instructor's source notebooks (nbgrader "source")
NOTEBOOKS = ROOT / "notebooks"              # the student versions, generated from SOLUTIONS
REFERENCE_DIR = ROOT / "data" / "reference"  # the graded chapters' reference outputs


@dataclass(frozen=True)
class Chapter:
    """One chapter: solutions/<name>/<name>.ipynb, released as notebooks/<name>/<name>.ipynb.

    checks: the module `autograder.checks.<checks>` that grades it (None: not graded);
    forbids: the library families (`autograder.families`) the sandbox locks while grading it.
    """

    name: str
    topic: str
    checks: str | None = None
    forbids: tuple[str, ...] = ()

    @property
    def graded(self) -> bool:
        return self.checks is not None

    @property
    def title(self) -> str:
        """What the README's table and the chapter list show: the topic, and "(graded)" for a graded one."""
        return f"{self.topic} (graded)" if self.graded else self.topic

    def solution(self, language: str | None = None) -> Path:
        """The source notebook (of the edition in `language`: solutions/<language>/<name>/)."""
        return _folder(SOLUTIONS, language) / self.name / f"{self.name}.ipynb"

    def notebook(self, language: str | None = None) -> Path:
        """The released student notebook (of the edition in `language`: notebooks/<language>/<name>/)."""
        return _folder(NOTEBOOKS, language) / self.name / f"{self.name}.ipynb"

    @property
    def reference(self) -> Path:
        """data/reference/<name>.npz: the reference outputs of a graded chapter's visible checks."""
        return REFERENCE_DIR / f"{self.name}.npz"


def _folder(root: Path, language: str | None) -> Path:
    return root / language if language else root


CHAPTERS = (
    Chapter("00_setup", "Set-up and the MNIST baseline"),
    Chapter("01_activations", "Activations: Sigmoid vs ReLU"),
    Chapter("02_dropout", "Dropout", checks="dropout", forbids=("dropout",)),
    Chapter("03_batchnorm", "Batch normalization", checks="batchnorm", forbids=("normalization",)),
    Chapter("04_initialization", "Weight initialization and optimizers", checks="initialization", forbids=("init",)),
    Chapter("05_overfitting", "Overfitting detection: validation, early stopping, schedulers", checks="early_stopping"),
    Chapter("06_capstone", "Capstone ablation"),
)
GRADED = tuple(c for c in CHAPTERS if c.graded)


def chapter(name: str) -> Chapter:
    """The chapter whose folder is `name` (KeyError, listing the chapters, for another name)."""
    for each in CHAPTERS:
        if each.name == name:
            return each
    raise KeyError(f"no chapter {name!r}; the course has {', '.join(c.name for c in CHAPTERS)}")


def checked_by(module: str) -> Chapter:
    """The graded chapter that `autograder.checks.<module>` grades (a module's name, dotted or not)."""
    short = module.rsplit(".", 1)[-1]
    return next(c for c in GRADED if c.checks == short)


# -- nbgrader cell roles ------------------------------------------------------------------------
# In a chapter's notebooks nbgrader's metadata gives each graded cell one of three roles:
SOLUTION = "solution"  # code the student writes (an autograded answer); its grade_id is the part's name
TEST = "test"          # a locked test cell with points: grade_id test_<part>, or test_<part>_hidden
ANSWER = "answer"      # a written answer (markdown), graded by hand in the formgrader


def cell_role(cell: dict) -> str | None:
    """SOLUTION, TEST or ANSWER for a notebook cell (a dict or nbformat node); None for any other cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    solution, grade, kind = bool(meta.get("solution")), bool(meta.get("grade")), cell.get("cell_type")
    if kind == "code" and solution and not grade:
        return SOLUTION
    if kind == "code" and grade and not solution:
        return TEST
    if kind == "markdown" and solution and grade:
        return ANSWER
    return None


def grade_id_of(part: str, hidden: bool = False) -> str:
    """The grade_id of a part's visible (or hidden) test cell (`TestCell.of` reads it back)."""
    return f"test_{part}_hidden" if hidden else f"test_{part}"


@dataclass(frozen=True)
class TestCell:
    """An autograded test cell of a chapter: it runs the visible or hidden checks of one part."""

    __test__ = False  # not a test class, for pytest

    grade_id: str
    part: str
    hidden: bool
    points: float

    @classmethod
    def of(cls, grade_id: str, points: float) -> TestCell:
        """The test cell called `grade_id` (test_<part> or test_<part>_hidden): the one place a name is read."""
        if not grade_id.startswith("test_"):
            raise ValueError(f"test cell {grade_id!r}: a test cell's grade_id is test_<part> or test_<part>_hidden")
        name = grade_id.removeprefix("test_")
        hidden = name.endswith("_hidden")
        return cls(grade_id, name.removesuffix("_hidden"), hidden, float(points))


@dataclass(frozen=True)
class AnswerCell:
    """A written answer of a chapter: graded by hand."""

    grade_id: str
    points: float


def source_cells(name: str, role: str | None = None) -> list[dict]:
    """The cells of solutions/<name>/<name>.ipynb (only those of `role`, if given), each source one string."""
    cells = json.loads(chapter(name).solution().read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return [cell for cell in cells if role is None or cell_role(cell) == role]


def autograded_cells(name: str) -> list[TestCell]:
    """The chapter's autograded test cells, in notebook order."""
    return [TestCell.of(c["metadata"]["nbgrader"]["grade_id"], c["metadata"]["nbgrader"]["points"])
            for c in source_cells(name, TEST)]


def answer_cells(name: str) -> list[AnswerCell]:
    """The chapter's written answers, in notebook order."""
    return [AnswerCell(c["metadata"]["nbgrader"]["grade_id"], float(c["metadata"]["nbgrader"]["points"]))
            for c in source_cells(name, ANSWER)]


def clone_url(repository: str | None = None) -> str:
    """The https address `git clone` uses for the course (default: GITHUB_REPOSITORY)."""
    return f"https://github.com/{repository or GITHUB_REPOSITORY}.git"


def colab_url(notebook_path: str, repository: str | None = None, branch: str | None = None) -> str:
    """Open `notebook_path` (relative to the repository root) in Colab straight from GitHub."""
    return (f"https://colab.research.google.com/github/{repository or GITHUB_REPOSITORY}"
            f"/blob/{branch or DEFAULT_BRANCH}/{notebook_path}")
