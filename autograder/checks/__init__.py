"""Checks of the graded parts, written once and run two ways.

In a student's notebook a test cell calls `run_checks(part, obj)`: the checks run right there,
against the objects the student defined (`LocalImplementation`), and print a diagnosis.
The grading command runs the same checks in its own clean process against the student's code
executing in a sandboxed worker (`autograder.worker`), so nothing the student's code does to
its own interpreter can change a verdict.

Each chapter module (`dropout`, `batchnorm`) exports PARTS: {part name: check function}, where a
check function takes (impl, hidden) and raises CheckFailed with a message that names the likely
mistake. `hidden=False` runs the visible checks against the shipped references; `hidden=True`
runs the hidden ones: fresh inputs, PyTorch as the oracle, edge cases, forbidden calls.
"""
from __future__ import annotations

from autograder.checks.adapter import CheckFailed, LocalImplementation, Rng, StudentError


def parts() -> dict:
    """{part name: check function} over every graded chapter."""
    from autograder.checks import batchnorm, dropout

    return {**dropout.PARTS, **batchnorm.PARTS}


def run_checks(part: str, namespace: dict, hidden: bool = False) -> None:
    """Run the checks of one graded part against the student's definitions; print the verdict.

    `namespace` is where the student's code lives: a notebook passes `globals()`. A failure
    raises AssertionError carrying the diagnosis (nbgrader counts the cell as failed).
    """
    checks = parts()
    if part not in checks:
        raise KeyError(f"unknown graded part {part!r}; known: {sorted(checks)}")
    impl = LocalImplementation(dict(namespace))
    try:
        checks[part](impl, hidden)
    except CheckFailed as failure:
        raise AssertionError(f"{part}: {failure}") from None
    print(f"{part}: all {'hidden' if hidden else 'visible'} checks passed")


__all__ = ["CheckFailed", "LocalImplementation", "Rng", "StudentError", "parts", "run_checks"]
