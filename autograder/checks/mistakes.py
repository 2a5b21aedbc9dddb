"""Known mistakes: a key, the message that explains it, and matching a result against them.

Every diagnosis a graded part gives is a Mistake: its key names the diagnosis (tests, sample
submissions and a message catalogue refer to it), its message is a template whose {fields} the
check fills in. A chapter declares its own mistakes once, in its table MISTAKES (`table`); every
table also holds the SHARED mistakes, those any part can get (the student's code raised, did not
raise the error it must, is not implemented yet, may reach a forbidden library implementation...).

Keys are snake_case and name what the student did or left undone (`not_scaled`,
`momentum_inverted`, `error_not_raised`), one key per diagnosis; a chapter's key never repeats a
shared one.

A check that finds a wrong value recomputes the value as each known mistake would (the
"candidates") and names the first mistake whose value matches the student's (`matching`): the
diagnosis then says what went wrong, not merely that something did.
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from autograder import forbidden
from autograder.checks.adapter import CheckFailed


@dataclass(frozen=True)
class Mistake:
    """One known mistake: `message` is a template, its {fields} filled in by `text` and `failure`."""

    key: str
    message: str

    @property
    def fields(self) -> frozenset[str]:
        """The names of the template's fields."""
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.message) if name)

    def text(self, **values) -> str:
        return self.message.format(**values)

    def failure(self, where: str | None = None, after: str = "", **values) -> CheckFailed:
        """The CheckFailed naming this mistake: "<where>: <message><after>" (where: the call that showed it)."""
        text = self.text(**values) + after
        return CheckFailed(f"{where}: {text}" if where else text, mistake=self.key)

    def pattern(self) -> re.Pattern:
        """A regular expression that matches exactly the texts of this template, whatever its values."""
        parts = [re.escape(literal) + ("(.*?)" if name is not None else "")
                 for literal, name, _, _ in string.Formatter().parse(self.message)]
        return re.compile("".join(parts), re.DOTALL)


def _mistakes(messages: Mapping[str, str]) -> dict[str, Mistake]:
    return {key: Mistake(key, message) for key, message in messages.items()}


# The mistakes any part can get, declared once; every chapter's table holds them.
SHARED = _mistakes({
    # calling the student's code (calling.py)
    "not_implemented": ("`{name}` is not implemented yet (it raised NotImplementedError): write your code in its "
                        "cell and run that cell"),
    "raised_error": "{what} raised {error}",
    "error_not_raised": "{what} must raise {kind}: {why}",
    "wrong_error_raised": "{what} raised {error}; it must raise {kind}: {why}",
    # the runner (runner.py)
    "forbidden": forbidden.verdict(["{findings}"]),
    "unusable_result": "the checks could not use what your code returned ({kind}: {error})",
    # worded by the implementations (adapter.py, and the sandboxed worker through remote.py)
    "not_defined": "`{name}` is not defined: run the cell that defines it first",
    "not_a_module": "{name}(...) did not create a torch.nn.Module",
    "not_callable": "{name}(...) created an object that cannot be called: define __call__(self, val_loss, model)",
    "no_input_gradient": "no gradient reached the input: is the output computed from it with torch operations?",
    "model_keys_changed": ("the model given to your object no longer has the same state_dict keys (now {keys}): do "
                           "not change the model's structure"),
    "model_tensors_replaced": ("the weights of the model given to your object could not be set ({kind}: {error}): do "
                               "not replace or reshape the model's tensors"),
    "grader_error": "the grader could not run this check ({error})",
    # why grading cannot check a part at all (autograder.grading)
    "no_code": "no code found for `{name}`: keep the solution cell that defines it",
    "cell_raised": "the cell defining `{name}` raised {error}",
    "not_defined_by_cell": "`{name}` is not defined by its solution cell",
})
# The shared mistakes whose text is worded outside the checks, by code that does not yet hand
# the runner a key (the implementations' CheckFailed, a sandboxed worker's reply, grading's
# reasons a part cannot be checked): the runner recognises them by their text (`recognised`).
WORDED_ELSEWHERE = ("not_defined", "not_a_module", "not_callable", "no_input_gradient", "model_keys_changed",
                    "model_tensors_replaced", "grader_error", "no_code", "cell_raised", "not_defined_by_cell")


def table(**messages: str) -> dict[str, Mistake]:
    """{key: Mistake} from key=message pairs, a chapter's mistakes declared once, and the SHARED ones."""
    clash = sorted(set(messages) & set(SHARED))
    if clash:
        raise ValueError(f"{clash} are shared mistakes: name a chapter's own mistake differently")
    return {**SHARED, **_mistakes(messages)}


def recognised(text: str) -> Mistake | None:
    """The shared mistake worded elsewhere (WORDED_ELSEWHERE) whose template `text` is, or None."""
    return next((SHARED[key] for key in WORDED_ELSEWHERE if SHARED[key].pattern().fullmatch(text)), None)


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
