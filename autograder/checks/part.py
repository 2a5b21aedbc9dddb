"""A graded part, declared once: its visible checks, hidden checks, known mistakes, forbidden names.

A chapter module lists its parts in PARTS, a table {name: Part}. The runner (runner.py) is the
only code that executes a part, the same in the notebook's self-check, `validate` and `grade`:
    visible(impl, references)  the checks a student's self-check runs, on the shipped reference
                               arrays of the chapter (data/reference/<chapter>.npz);
    hidden(impl, rng)          the checks only grading runs, on fresh inputs drawn from `rng`.
Both raise CheckFailed naming the likely mistake; they never load references, seed generators,
look for forbidden calls or word a verdict: the runner does that, once for every part.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from autograder.checks.adapter import CheckFailed, Implementation
from autograder.checks.mistakes import Mistake

References = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Part:
    """One graded part of a chapter (a function or class the student writes)."""

    name: str
    chapter: str
    visible: Callable[[Implementation, References], None]
    hidden: Callable[[Implementation, np.random.Generator], None]
    mistakes: Mapping[str, Mistake] = field(default_factory=dict)
    forbidden_names: frozenset[str] = frozenset()

    def __call__(self, impl: Implementation, hidden: bool) -> None:
        """Run the part as the runner does; raise CheckFailed with the diagnosis when it fails."""
        from autograder.checks.runner import run_part

        verdict = run_part(self, impl, hidden)
        if not verdict.passed:
            raise CheckFailed(verdict.detail, mistake=verdict.mistake)


def table(*parts: Part) -> dict[str, Part]:
    """A chapter's PARTS: {name: Part}, in notebook order."""
    return {part.name: part for part in parts}
