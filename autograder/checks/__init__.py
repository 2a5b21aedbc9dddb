"""Checks of the graded parts, written once and run two ways.

In a student's notebook a test cell calls `run_checks(part, obj)`: the checks run right there,
against the objects the student defined (`LocalImplementation`), and print a diagnosis.
The grading command runs the same checks in its own clean process against the student's code
executing in a sandboxed worker (`autograder.worker`), so nothing the student's code does to
its own interpreter can change a verdict.

Each chapter module (listed in CHAPTER_MODULES) exports CHAPTER, PARTS: {part name: check
function} and build_references; a check function takes (impl, hidden) and raises CheckFailed with
a message that names the likely mistake. A module whose exercise forbids a library shortcut sets
FORBIDDEN_NAMES (the library names its solution cells must not mention): the grader scans each
part's source for them (`autograder.forbidden`) and fails the part's visible and hidden tests
alike on a finding, while in the sandbox the library implementation itself raises
(`autograder.families`, `autograder.lockdown`). `hidden=False` runs the visible checks against
the shipped references; `hidden=True` runs the hidden ones: fresh inputs, PyTorch as the oracle,
edge cases.
"""
from __future__ import annotations

from autograder.checks.adapter import CheckFailed, LocalImplementation, Rng, StudentError

CHAPTER_MODULES = ("dropout", "batchnorm", "initialization", "early_stopping")


def chapter_modules() -> dict:
    """{chapter folder name: its check module}, for every graded chapter."""
    import importlib

    modules = [importlib.import_module(f"autograder.checks.{name}") for name in CHAPTER_MODULES]
    return {module.CHAPTER: module for module in modules}


def parts() -> dict:
    """{part name: check function} over every graded chapter."""
    return {name: check for module in chapter_modules().values() for name, check in module.PARTS.items()}


def forbidden_names() -> dict[str, set[str]]:
    """{part: library names its source must not use}, for the parts whose exercise forbids a shortcut."""
    return {name: set(module.FORBIDDEN_NAMES) for module in chapter_modules().values()
            if getattr(module, "FORBIDDEN_NAMES", None) for name in module.PARTS}


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
    impl = LocalImplementation(dict(namespace))
    try:
        checks[part](impl, hidden)
    except CheckFailed as failure:
        raise SelfCheckFailed(f"{part}: {failure}") from None
    except StudentError as error:  # a check that did not expect this exception still names it
        raise SelfCheckFailed(f"{part}: your code raised {error}") from None
    print(f"{part}: all {'hidden' if hidden else 'visible'} checks passed")


__all__ = ["CheckFailed", "LocalImplementation", "Rng", "SelfCheckFailed", "StudentError", "chapter_modules", "forbidden_names", "parts",
           "run_checks"]
