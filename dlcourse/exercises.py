"""Whether a graded part is written yet, so a chapter's later cells can skip it gracefully.

A released notebook leaves each graded part as nbgrader's `raise NotImplementedError()` stub.
The cells that use the part try it once on a tiny input first: an experiment with a progress bar
then runs only what it can finish, instead of stopping half-way with a red bar.
"""
from __future__ import annotations

from collections.abc import Callable


def is_implemented(attempt: Callable[[], object]) -> bool:
    """False while `attempt()` raises NotImplementedError (the part is still the stub); True otherwise.

    Any other exception propagates: a part that is written but wrong should say so, not be skipped.
    """
    try:
        attempt()
    except NotImplementedError:
        return False
    return True
