"""The one runner of graded parts: the notebook's self-check, `validate` and `grade` all call it.

It owns what every part shares, so that no chapter decides it again:
  - seeding: grading passes a seed (from the submission and the test), a notebook none;
  - references: the visible checks get the chapter's shipped reference arrays;
  - the forbidden rule: a static finding fails the part before its checks run, and a forbidden
    operation logged while they ran (a notebook's own kernel) fails it after; one message text,
    `forbidden.verdict`, for both;
  - the verdict's wording: "<part>: all visible checks passed", "<part>: <diagnosis>";
  - the diagnosis's key: every failed verdict names a mistake (mistakes.py), the chapter's or a
    shared one; a text worded elsewhere (by the implementation, or by the caller's `unusable`)
    is recognised by its template (`mistakes.recognised`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autograder.checks.adapter import CheckFailed, Implementation, StudentError
from autograder.checks.mistakes import SHARED, recognised
from autograder.checks.part import Part
from autograder.checks.seeds import fresh_rng, seed_everything

FORBIDDEN = "forbidden"  # the (shared) mistake key of a verdict that found a forbidden library route


@dataclass(frozen=True)
class Verdict:
    """The outcome of one part's visible or hidden checks."""

    part: str
    hidden: bool
    passed: bool
    detail: str = ""
    mistake: str | None = None

    @property
    def message(self) -> str:
        """What the student reads: the same words in a notebook, from `validate` and in the feedback."""
        if self.passed:
            return f"{self.part}: all {'hidden' if self.hidden else 'visible'} checks passed"
        return f"{self.part}: {self.detail}"


def run_part(part: Part, impl: Implementation, hidden: bool, *, seed: int | None = None, findings: Sequence[str] = (),
             unusable: Callable[[], str | None] | None = None) -> Verdict:
    """Run `part`'s visible (or hidden) checks against the student's `impl`.

    seed: seed every generator first (grading); findings: the static scan's findings on the part's
    source (`autograder.forbidden`); unusable(): why the part cannot be checked at all (no code, a
    cell that raised), asked of the caller that read the notebook, or None.
    """
    from autograder import references

    if seed is not None:
        seed_everything(seed)

    def failed(detail: str, mistake: str | None = None) -> Verdict:
        if mistake is None:
            known = recognised(detail)
            mistake = known.key if known else None
        return Verdict(part.name, hidden, False, detail, mistake)

    def forbidden_route(found: list[str]) -> Verdict:  # the words of forbidden.verdict(found)
        return failed(SHARED[FORBIDDEN].text(findings="; ".join(found)), FORBIDDEN)

    if findings:  # visible and hidden tests alike
        return forbidden_route(list(findings))
    try:
        reason = unusable() if unusable else None
        if reason:
            return failed(reason)
        if hidden:
            part.hidden(impl, fresh_rng())
        else:
            part.visible(impl, references.load(part.chapter))
    except references.ReferenceFileError:  # the grader's problem, not the student's
        raise
    except CheckFailed as failure:
        return failed(str(failure), failure.mistake)
    except StudentError as error:  # a check that did not expect this exception still names it
        return failed(*_keyed(SHARED["raised_error"].failure(what="your code", error=error)))
    except Exception as error:  # a check tripped over a value it did not expect
        return failed(*_keyed(SHARED["unusable_result"].failure(kind=type(error).__name__, error=error)))
    seen = sorted(getattr(impl, "forbidden_seen", ()) or ())
    if seen and part.forbidden_names:
        return forbidden_route([f"`{op}` ran" for op in seen])
    return Verdict(part.name, hidden, True)


def _keyed(failure: CheckFailed) -> tuple[str, str | None]:
    return str(failure), failure.mistake
