"""Known mistakes: a key, the message that explains it, and matching a result against them.

A check that finds a wrong value recomputes the value as each known mistake would (the
"candidates") and names the first mistake whose value matches the student's: the diagnosis then
says what went wrong, not merely that something did. The key lets tests and sample submissions
name a diagnosis without copying its text.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from autograder.checks.adapter import CheckFailed


@dataclass(frozen=True)
class Mistake:
    """One known mistake: `message` is a template, its {fields} filled in by `failure(...)`."""

    key: str
    message: str

    def text(self, **values) -> str:
        return self.message.format(**values) if values else self.message

    def failure(self, where: str | None = None, after: str = "", **values) -> CheckFailed:
        """The CheckFailed naming this mistake: "<where>: <message><after>" (where: the call that showed it)."""
        text = self.text(**values) + after
        return CheckFailed(f"{where}: {text}" if where else text, mistake=self.key)


def table(**messages: str) -> dict[str, Mistake]:
    """{key: Mistake} from key=message pairs: a chapter's mistakes, declared once."""
    return {key: Mistake(key, message) for key, message in messages.items()}


def matching(actual, candidates: Iterable[tuple[str, object]], mistakes: Mapping[str, Mistake],
             same: Callable[[object, object], bool]) -> Mistake | None:
    """The first known mistake whose candidate value `same` finds equal to `actual`, else None.

    `candidates` are (mistake key, the value that mistake gives) pairs; a key may appear more than
    once (one mistake made in two ways) and keys without a Mistake (the correct value) are skipped.
    """
    for key, value in candidates:
        if key in mistakes and same(actual, value):
            return mistakes[key]
    return None
