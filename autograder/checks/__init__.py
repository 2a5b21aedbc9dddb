"""Checks of the graded parts, written once and run two ways.

In a student's notebook a test cell calls `run_checks(part, globals())`: the checks run right
there, against the objects the student defined (`LocalImplementation`), and print a diagnosis.
The grading command runs the same checks in its own clean process against the student's code
executing in a sandboxed worker (`autograder.worker`), so nothing the student's code does to
its own interpreter can change a verdict.

Each chapter module (CHAPTER_MODULES: the `checks` of the graded chapters in `dlcourse.course`)
exports CHAPTER (derived from the same model), build_references and PARTS, a table {name: Part}
(part.py): each part's visible checks, hidden checks, known mistakes and the library names its
source must not use. One runner (runner.py) executes a part everywhere and owns seeding,
references, the forbidden rule and the wording of verdicts. The checks reach the student's code
through the shared vocabulary: calling.py (calling it, and what it raised), closeness.py (named
tolerances), formatting.py (values in messages), seeds.py (fresh inputs), mistakes.py (known
mistakes and matching a result against them).
"""
from __future__ import annotations

from autograder.checks.adapter import CheckFailed, LocalImplementation, Rng, StudentError
from autograder.checks.part import Part
from autograder.checks.runner import run_part
from dlcourse import course

CHAPTER_MODULES = tuple(chapter.checks for chapter in course.GRADED)


def chapter_modules() -> dict:
    """{chapter folder name: its check module}, for every graded chapter, in course order."""
    import importlib

    return {chapter.name: importlib.import_module(f"autograder.checks.{chapter.checks}") for chapter in course.GRADED}


def parts() -> dict[str, Part]:
    """{part name: Part} over every graded chapter."""
    return {name: part for module in chapter_modules().values() for name, part in module.PARTS.items()}


def forbidden_names() -> dict[str, set[str]]:
    """{part: library names its source must not use}, for the parts whose exercise forbids a shortcut."""
    return {name: set(part.forbidden_names) for name, part in parts().items() if part.forbidden_names}


class SelfCheckFailed(AssertionError):
    """A self-check's verdict in a notebook: one message, not a traceback through the grader.

    It is an AssertionError, so the cell ends in an error and nbgrader counts it as failed; IPython
    shows an exception's `_render_traceback_()` lines instead of its frames, so the student reads
    only what is wrong. The cell carries nbgrader's `raises-exception` tag (`autograder.release`),
    so Run All goes on to the rest of the chapter.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[1;31mSelf-check failed\x1b[0m {self}"]


def run_checks(part: str, namespace: dict, hidden: bool = False) -> None:
    """Run the checks of one graded part against the student's definitions; print the verdict.

    `namespace` is where the student's code lives: a notebook passes `globals()`. A failure
    raises SelfCheckFailed carrying the diagnosis.
    """
    checks = parts()
    if part not in checks:
        raise KeyError(f"unknown graded part {part!r}; known: {sorted(checks)}")
    verdict = run_part(checks[part], LocalImplementation(dict(namespace)), hidden)
    if not verdict.passed:
        raise SelfCheckFailed(verdict.message)
    print(verdict.message)


__all__ = ["CheckFailed", "LocalImplementation", "Part", "Rng", "SelfCheckFailed", "StudentError", "chapter_modules",
           "forbidden_names", "parts", "run_checks", "run_part"]
