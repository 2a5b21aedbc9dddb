"""Calling the student's code, and turning what it raised into a diagnosis.

Every check reaches the student's code through an Implementation (adapter.py), which reports an
exception of theirs as a `StudentError`. `call` runs one such request and, when the student's
code raised, fails the check with `raised(...)`: one wording for every chapter, the shared
mistakes `not_implemented`, `raised_error`, `error_not_raised` and `wrong_error_raised`
(mistakes.SHARED).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from autograder.checks.adapter import CheckFailed, StudentError
from autograder.checks.mistakes import SHARED

T = TypeVar("T")


def not_implemented(name: str) -> str:
    """What a student reads while `name` still raises NotImplementedError (the notebook's placeholder)."""
    return SHARED["not_implemented"].text(name=name)


def raised(error: StudentError, what: str, name: str) -> CheckFailed:
    """The failure for `error`, raised by the student's `name` while `what` ran (a call as the message shows it)."""
    if error.is_a("NotImplementedError"):
        return SHARED["not_implemented"].failure(name=name)
    return SHARED["raised_error"].failure(what=what, error=error)


def call(name: str, what: str, request: Callable[..., T], *args, **kwargs) -> T:
    """`request(*args, **kwargs)`, a request to the student's `name`; what it raised fails the check."""
    try:
        return request(*args, **kwargs)
    except StudentError as error:
        raise raised(error, what, name) from None


def error_of(request: Callable[..., object], *args, **kwargs) -> StudentError | None:
    """What the student's code raised on `request(*args, **kwargs)`, or None when it returned.

    For the checks that WANT an exception (a ValueError on an invalid argument)."""
    try:
        request(*args, **kwargs)
    except StudentError as error:
        return error
    return None


def expect_error(kind: str, name: str, what: str, why: str, request: Callable[..., object], *args, **kwargs) -> None:
    """The student's `name` must raise `kind` (an exception class name) on this request; `why` says why."""
    error = error_of(request, *args, **kwargs)
    if error is not None and error.is_a(kind):
        return
    if error is None:
        raise SHARED["error_not_raised"].failure(what=what, kind=kind, why=why)
    if error.is_a("NotImplementedError"):
        raise SHARED["not_implemented"].failure(name=name)
    raise SHARED["wrong_error_raised"].failure(what=what, error=error, kind=kind, why=why)
