"""Checks of chapter 05 (overfitting): the EarlyStopping callback.

The student's class is driven the way `dlcourse.training.fit` drives it, once per epoch
`stop = early_stopping(val_loss, model)`, through `impl.new_object` (see adapter.LocalObject):
the model is a small probe (a Linear and a BatchNorm1d, so it has parameters AND buffers) whose
weights the check sets before every call, in place, as an optimizer would.

A case is a sequence of losses with (patience, min_delta, restore_best_weights), or no arguments
at all (the defaults). The object is called on it until it returns True (fit stops there) or the
sequence ends; what it returns, its attributes after each call and the model's weights after each
call are compared with `_oracle`, a direct transcription of the specification:
    a call improves when val_loss < best_loss - min_delta (strict; best_loss starts at inf, so the
    first call improves, unless it is NaN: NaN never improves). On an improvement best_loss =
    val_loss, best_epoch = number of calls so far (1-based), counter = 0, and a deep copy of
    model.state_dict() is kept. Otherwise counter += 1, and at counter >= patience the kept copy
    (if any call improved) is loaded back, with restore_best_weights, and the call returns True.
Losses and min_delta are multiples of 1/64 (the default case's tiny gains: of 2^-20), so
`a < b - d`, `a + d < b` and `b - a > d` agree exactly in floating point, float32 included:
every correct way of writing the test passes.

Every clause is graded on every run, not by luck of the draw: besides random loss curves, both
the visible and the hidden checks run DESIGNED cases, one per clause (a tie, a gain of exactly
min_delta, a smaller gain, a loss worse by less than min_delta, NaN last and first, the counter
reset, restore_best_weights False, a stop before any improvement, the defaults with gains far
below 1e-3). The hidden ones draw their numbers fresh, but each keeps its clause's shape, and
`_hidden_cases` refuses to grade if they do not catch every known mistake.

When the stopping calls differ from the oracle's, every case is replayed through `_oracle` with
one known mistake of the rule (RULE_MISTAKES); a mistake that explains every case names the
diagnosis. When only the cases built with no arguments differ, the wrong default is named. Every
diagnosis is a Mistake of the one table MISTAKES.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from autograder.checks import mistakes
from autograder.checks.adapter import StudentError, probe_model, probe_state_template
from autograder.checks.calling import expect_error, raised
from autograder.checks.formatting import call as call_text, exact
from autograder.checks.mistakes import Mistake
from autograder.checks.part import Part, table
from dlcourse import course

CHAPTER = course.checked_by(__name__).name  # the chapter dlcourse.course says this module grades
NAME = "EarlyStopping"
ATTRIBUTES = ("best_loss", "best_epoch", "counter")
DEFAULTS = {"patience": 5, "min_delta": 0.0, "restore_best_weights": True}
GRID = 1 / 64  # losses and min_delta are multiples of this: exact in float32 and float64 arithmetic
# The gains of the defaults case: far below 1e-3, yet exact in float32 for losses in [0.5, 1), so only
# min_delta=0.0 (or a default below 1e-6) counts them as improvements.
EPSILON = 2.0**-20

# Mistakes of the rule the diagnosis recognises: how `_oracle` changes, and what the student is told.
RULE_MESSAGES = {
    "non_strict": ("counts a loss of exactly best_loss - min_delta as an improvement (<= instead of <): "
                   "an improvement must be strictly better, val_loss < best_loss - min_delta; with <= a "
                   "plateau of equal losses never stops training"),
    "ignores_min_delta": ("ignores min_delta: with min_delta > 0 a loss only counts as an improvement when it beats "
                 "best_loss by more than min_delta (val_loss < best_loss - min_delta)"),
    "min_delta_added": ("applies min_delta the wrong way: val_loss < best_loss + min_delta accepts losses slightly "
                   "WORSE than the best as improvements; an improvement is val_loss < best_loss - min_delta"),
    "stops_late": ("stops one call late (off by one): return True on the patience-th call in a row without "
             "improvement, i.e. as soon as counter >= patience after counting this call"),
    "stops_early": ("stops one call early (off by one): return True on the patience-th call in a row without "
              "improvement (counter >= patience after counting this call), not one call before"),
    "counter_not_reset": ("does not reset counter to 0 after an improvement: patience counts the calls IN A ROW "
                 "without improvement, so every improvement starts the count again"),
    "nan_improves": ("treats a NaN loss as an improvement: a NaN never improves (val_loss < best_loss - "
                     "min_delta is False for NaN; write the test so that NaN lands on the no-improvement side)"),
    "nan_skipped": ("skips NaN losses: a NaN is no improvement, so it counts towards patience (counter += 1) "
                    "like any other call without improvement"),
    "first_call_improves": ("counts the first call as an improvement whatever its loss: a NaN first loss is no "
                     "improvement either (NaN < inf is False), so best_loss stays inf, best_epoch 0 and counter "
                     "becomes 1; let the comparison with best_loss = math.inf decide"),
    "best_epoch_from_0": ("best_epoch counts calls from 0: the first call is epoch 1, so after an improvement at "
                     "the k-th call best_epoch must be k"),
}
RULE_MISTAKES = tuple(RULE_MESSAGES)  # the keys `_oracle(..., mistake)` knows
# The mistakes that change when training stops (best_epoch_from_0 only changes an attribute).
STOPPING_MISTAKES = tuple(m for m in RULE_MISTAKES if m != "best_epoch_from_0")
# Mistakes about the weights the object keeps and loads back.
NO_COPY_YET = ("no call has improved yet (a NaN never improves, not even the first), so there is nothing to load "
               "back: return True and leave the model as it is")
WEIGHT_MESSAGES = {
    "shallow_copy": ("keeps a shallow copy of the weights: model.state_dict() returns references to the model's "
                "live tensors, which training then changes in place, so the copy you load back already holds "
                "the latest weights. Keep a deep copy: copy.deepcopy(model.state_dict()) or "
                "{{k: v.detach().clone() for k, v in model.state_dict().items()}}"),
    "not_restored": ("returned True but did not load the best weights back into the model: keep a deep copy "
                     "of model.state_dict() at each improvement and, when you stop, call "
                     "model.load_state_dict(that copy)"),
    "restores_before_stop": ("changes the model's weights on a call that does not stop training (it loads the best "
                      "weights back before stopping): restore them only on the call that returns True"),
    "buffers_not_restored": ("restored the parameters but not the buffers (BatchNorm's running_mean, running_var, "
                "num_batches_tracked): keep and load back the whole model.state_dict(), which holds both"),
    "ignores_restore_false": ("ignores restore_best_weights=False: then the model must keep its latest weights when "
                      "training stops, but yours loaded back older ones"),
    "raises_without_copy": "{what} raised {error}: this call must return True, and " + NO_COPY_YET,
    "changes_without_copy": "your object changed the model's weights, but " + NO_COPY_YET,
    "weights_changed": ("your object changed the model's weights; it may only load the best weights back on the "
                        "call that returns True, and only with restore_best_weights"),
    "restores_wrong_call": ("after returning True the model holds the weights it had at call {held}, but the best "
                            "loss was seen at call {best}: keep a copy at each improvement and load that one back"),
    "restored_weights_wrong": ("after returning True the model's weights are not those of the best call ({best}): "
                               "load back exactly what model.state_dict() held then"),
}
# The defaults, when only the cases built with EarlyStopping() (no arguments) go wrong.
DEFAULT_MESSAGES = {
    "default_min_delta": ("EarlyStopping() must default to min_delta=0.0: with no arguments yours does not count gains of "
                  f"2^-20 (about {EPSILON:.2g}) as improvements, as if min_delta were positive"),
    "default_patience": ("EarlyStopping() must default to patience=5: with no arguments yours stops as with "
                         "patience={patience}"),
    "default_restore": ("EarlyStopping() must default to restore_best_weights=True: with no arguments yours did not load "
                "the best weights back when it stopped"),
    "defaults_wrong": ("EarlyStopping() with no arguments must behave as EarlyStopping(patience=5, min_delta=0.0, "
              "restore_best_weights=True), and yours does not: check the defaults in the signature of __init__"),
}
# What the object answers and holds, and how it is built.
FORM_MESSAGES = {
    "attribute_not_number": ("attribute `{name}` must be a number, found {value}; keep best_loss (float), best_epoch "
                             "(int) and counter (int) as attributes"),
    "answer_not_bool": ("call {call} returned {answer}; it must return True (stop) or False (go on) on every call. "
                        "Did you forget a `return False`?"),
    "stops_wrong": ("{yours}. The rule: a call improves when val_loss < best_loss - min_delta (NaN never improves); "
                    "on the patience-th call in a row without improvement return True"),
    "initial_attributes_wrong": ("before any call best_loss must be math.inf, best_epoch 0 and counter 0; yours are "
                                 "{best_loss}, {best_epoch} and {counter}"),
    "attributes_wrong": ("after call {call} your best_loss, best_epoch and counter are {got_loss}, {got_epoch} and "
                         "{got_counter}; expected {loss}, {epoch} and {counter}. best_loss is the loss of the last "
                         "improvement, best_epoch the number of the call that made it (from 1), counter the number "
                         "of calls since then"),
    "rejects_valid_arguments": ("{what} raised {error}: these arguments are valid (only patience < 1 or min_delta < 0 "
                                "are errors)"),
}
MISTAKES = mistakes.table(**RULE_MESSAGES, **WEIGHT_MESSAGES, **DEFAULT_MESSAGES, **FORM_MESSAGES)


@functools.lru_cache(maxsize=1)
def _template() -> dict[str, np.ndarray]:
    """The probe model's state: {key: array of its shape and dtype} (see adapter.probe_model)."""
    return probe_state_template()


@functools.lru_cache(maxsize=1)
def _parameter_keys() -> tuple[str, ...]:
    return tuple(name for name, _ in probe_model().named_parameters())


# --------------------------------------------------------------------------------------------
# the specification, and the known mistakes
# --------------------------------------------------------------------------------------------
def _improves(loss: float, best: float, min_delta: float, mistake: str | None) -> bool:
    """The improvement test, as the specification writes it (mistake=None) or as a mistake does."""
    threshold = {"ignores_min_delta": best, "min_delta_added": best + min_delta}.get(mistake, best - min_delta)
    if mistake == "nan_improves":
        return not loss >= threshold
    if mistake == "non_strict":
        return loss <= threshold
    return loss < threshold


def _oracle(losses, patience: int, min_delta: float, mistake: str | None = None) -> list[tuple]:
    """[(stop, counter, best_epoch, best_loss)] after each call, up to the first stop, as the
    specification gives them (mistake=None) or as one of MISTAKES would."""
    best, best_epoch, counter, calls = math.inf, 0, 0, []
    for call, loss in enumerate(losses, start=1):
        if mistake == "nan_skipped" and loss != loss:
            calls.append((False, counter, best_epoch, best))
            continue
        improved = _improves(loss, best, min_delta, mistake) or (mistake == "first_call_improves" and call == 1)
        stop = False
        if improved:
            best, best_epoch = loss, call
            counter = counter if mistake == "counter_not_reset" else 0
        else:
            counter += 1
            stop = counter >= max(1, patience + {"stops_late": 1, "stops_early": -1}.get(mistake, 0))
        calls.append((stop, counter, max(0, best_epoch - 1) if mistake == "best_epoch_from_0" else best_epoch, best))
        if stop:
            break
    return calls


def _stop_call(calls: list[tuple]) -> int | None:
    """The call that returned True in an `_oracle` answer, or None when it never stopped."""
    return len(calls) if calls and calls[-1][0] else None


# --------------------------------------------------------------------------------------------
# cases and runs
# --------------------------------------------------------------------------------------------
@dataclass
class Case:
    losses: list[float]
    patience: int = DEFAULTS["patience"]
    min_delta: float = DEFAULTS["min_delta"]
    restore: bool = DEFAULTS["restore_best_weights"]
    defaults: bool = False            # construct with EarlyStopping() and no arguments
    states: list[dict] = field(default_factory=list)  # the model's weights at each call

    def construct(self) -> dict:
        return {} if self.defaults else dict(patience=self.patience, min_delta=self.min_delta,
                                             restore_best_weights=self.restore)

    def describe(self) -> str:
        args = "EarlyStopping()" if self.defaults else (
            f"EarlyStopping(patience={self.patience}, min_delta={exact(self.min_delta)}, "
            f"restore_best_weights={self.restore})")
        return f"{args} called with the losses [{', '.join(exact(x) for x in self.losses)}]"

    def predicted(self, mistake: str | None = None) -> list[tuple]:
        return _oracle(self.losses, self.patience, self.min_delta, mistake)


@dataclass
class Run:
    """What the student's object did on a case (calls made until it returned True)."""

    case: Case
    initial: dict
    answers: list = field(default_factory=list)   # returned bools
    attrs: list = field(default_factory=list)     # attributes after each call
    after: list = field(default_factory=list)     # model state after each call

    @property
    def stop_call(self) -> int | None:
        return len(self.answers) if self.answers and self.answers[-1] else None


def _new(impl, kwargs: dict):
    what = call_text(NAME, **kwargs)
    try:
        return impl.new_object(NAME, **kwargs), what
    except StudentError as error:
        raise raised(error, what, NAME) from None


def _attributes(obj, what: str) -> dict:
    try:
        found = obj.attributes(list(ATTRIBUTES))
    except StudentError as error:
        raise raised(error, f"reading the attributes of {what}", NAME) from None
    for name, value in found.items():
        if isinstance(value, str) or value is None:
            raise MISTAKES["attribute_not_number"].failure(what, name=name, value=value)
    return found


def _run(impl, case: Case, in_place: bool = True) -> Run:
    obj, what = _new(impl, case.construct())
    run = Run(case, _attributes(obj, what))
    predicted = case.predicted()
    for call, (loss, state) in enumerate(zip(case.losses, case.states), start=1):
        try:
            answer, after = obj.step(loss, state, in_place=in_place)
        except StudentError as error:
            what = f"{case.describe()}: call {call} (val_loss={exact(loss)})"
            stops_without_copy = _stop_call(predicted) == call and predicted[-1][2] == 0 and case.restore
            if stops_without_copy and not error.is_a("NotImplementedError"):
                raise MISTAKES["raises_without_copy"].failure(what=what, error=error) from None
            raise raised(error, what, NAME) from None
        if not isinstance(answer, bool):
            raise MISTAKES["answer_not_bool"].failure(case.describe(), call=call, answer=answer)
        run.answers.append(answer)
        run.after.append(after)
        run.attrs.append(_attributes(obj, what))
        if answer:
            break
    return run


def _same_state(a: dict, b: dict, keys=None) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in (keys or b))


# --------------------------------------------------------------------------------------------
# the verdict on a set of runs
# --------------------------------------------------------------------------------------------
def _explains(runs: list[Run], mistake: str | None, attributes: bool) -> bool:
    """Does `_oracle(..., mistake)` predict the stopping calls (and the attributes) of every run?"""
    for run in runs:
        predicted = run.case.predicted(mistake)
        if _stop_call(predicted) != run.stop_call:
            return False
        if attributes and not all(_attrs_match(got, want) for got, want in zip(run.attrs, predicted)):
            return False
    return True


def _attrs_match(got: dict, want: tuple) -> bool:
    _, counter, best_epoch, best_loss = want
    same_loss = got["best_loss"] == best_loss or (got["best_loss"] != got["best_loss"] and best_loss != best_loss)
    return got["counter"] == counter and got["best_epoch"] == best_epoch and same_loss


def _wrong_default(runs: list[Run]) -> tuple[Mistake, dict]:
    """Which default explains the stopping calls of the runs made with EarlyStopping() (no arguments)."""
    def stops_like(patience: int, min_delta: float) -> bool:
        return all(_stop_call(_oracle(r.case.losses, patience, min_delta)) == r.stop_call for r in runs)

    if any(stops_like(DEFAULTS["patience"], d) for d in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)):
        return MISTAKES["default_min_delta"], {}
    for patience in range(1, 21):
        if patience != DEFAULTS["patience"] and stops_like(patience, 0.0):
            return MISTAKES["default_patience"], {"patience": patience}
    return MISTAKES["defaults_wrong"], {}


def _yours_and_expected(run: Run) -> str:
    """"yours returned True at call 3 (it should return True at call 5)", for a failure message."""
    yours = f"yours returned True at call {run.stop_call}" if run.stop_call else "yours never returned True"
    should = _stop_call(run.case.predicted())
    expected = f"it should return True at call {should}" if should else "it should never return True on these losses"
    return f"{yours} ({expected})"


def _check_stopping(runs: list[Run]) -> None:
    """The object returns True exactly where the specification stops; otherwise name the mistake."""
    if _explains(runs, None, attributes=False):
        return
    run = next(r for r in runs if not _explains([r], None, attributes=False))
    example = f"Example: {run.case.describe()}: {_yours_and_expected(run)}"
    for mistake in STOPPING_MISTAKES:
        if _explains(runs, mistake, attributes=False):
            raise MISTAKES[mistake].failure(after=f". {example}")
    explicit = [r for r in runs if not r.case.defaults]
    if run.case.defaults and _explains(explicit, None, attributes=False):
        default, values = _wrong_default([r for r in runs if r.case.defaults])
        raise default.failure(after=f". {example}", **values)
    raise MISTAKES["stops_wrong"].failure(run.case.describe(), yours=_yours_and_expected(run))


def _check_attributes(runs: list[Run]) -> None:
    """best_loss, best_epoch and counter start at inf, 0, 0 and follow the specification after each call."""
    for run in runs:
        first = run.initial
        if not (first["best_loss"] == math.inf and first["best_epoch"] == 0 and first["counter"] == 0):
            raise MISTAKES["initial_attributes_wrong"].failure(best_loss=first["best_loss"],
                                                               best_epoch=first["best_epoch"], counter=first["counter"])
    if _explains(runs, None, attributes=True):
        return
    for mistake in RULE_MISTAKES:
        if _explains(runs, mistake, attributes=True):
            raise MISTAKES[mistake].failure()
    for run in runs:
        for call, (got, want) in enumerate(zip(run.attrs, run.case.predicted()), start=1):
            if not _attrs_match(got, want):
                raise MISTAKES["attributes_wrong"].failure(
                    run.case.describe(), call=call, got_loss=exact(got["best_loss"]), got_epoch=got["best_epoch"],
                    got_counter=got["counter"], loss=exact(want[3]), epoch=want[2], counter=want[1])


def _check_weights(impl, runs: list[Run]) -> None:
    """The model is untouched except on the stopping call, which restores the best call's weights."""
    parameters = _parameter_keys()
    for run in runs:
        case = run.case
        predicted = case.predicted()
        for call, (answer, after) in enumerate(zip(run.answers, run.after), start=1):
            given = case.states[call - 1]
            best_call = predicted[call - 1][2]
            best = case.states[best_call - 1] if best_call else None
            where = f"{case.describe()}, call {call}"
            if not answer or not case.restore or best is None:
                if _same_state(after, given):
                    continue
                if best is not None and _same_state(after, best):
                    raise MISTAKES["ignores_restore_false" if answer else "restores_before_stop"].failure(
                        after=f" ({where})")
                if answer and best is None:
                    raise MISTAKES["changes_without_copy"].failure(where)
                raise MISTAKES["weights_changed"].failure(where)
            if _same_state(after, best):
                continue
            if _same_state(after, best, parameters) and not _same_state(after, best):
                raise MISTAKES["buffers_not_restored"].failure(after=f" ({where})")
            if _same_state(after, given):
                replay = _run(impl, case, in_place=False)
                if replay.stop_call == call and _same_state(replay.after[-1], best):
                    raise MISTAKES["shallow_copy"].failure(after=f" ({where})")
                if case.defaults:
                    raise MISTAKES["default_restore"].failure(after=f" ({where}: the best call was {best_call})")
                raise MISTAKES["not_restored"].failure(after=f" ({where}: the best call was {best_call})")
            held = [k for k, state in enumerate(case.states[:call], start=1) if _same_state(after, state)]
            if held:
                raise MISTAKES["restores_wrong_call"].failure(where, held=held[-1], best=best_call)
            raise MISTAKES["restored_weights_wrong"].failure(where, best=best_call)


def _construction_arguments(rng: np.random.Generator | None) -> tuple[list[dict], list[dict]]:
    """(valid, invalid) constructor arguments: the edges patience=1 and min_delta=0.0 are valid;
    patience 0 or negative, min_delta negative (by a grid step or by a hair) are not. Fixed for the
    visible checks, drawn afresh (same kinds) for the hidden ones."""
    if rng is None:
        patience, step, hair = -3, 1, 1e-9
    else:
        patience, step, hair = -int(rng.integers(1, 10)), int(rng.integers(1, 9)), float(rng.uniform(1e-12, 1e-6))
    valid = [{}, {"patience": 1, "min_delta": 0.0, "restore_best_weights": False},
             {"patience": 1 - patience, "min_delta": step * GRID, "restore_best_weights": True}]
    invalid = [{"patience": 0}, {"patience": patience, "min_delta": 0.5}, {"min_delta": -step * GRID},
               {"patience": 2, "min_delta": -hair}]
    return valid, invalid


def _check_construction(impl, rng: np.random.Generator | None) -> None:
    """Valid arguments construct; patience < 1 or min_delta < 0 raise ValueError (see _construction_arguments)."""
    valid, invalid = _construction_arguments(rng)
    for kwargs in valid:
        try:
            impl.new_object(NAME, **kwargs)
        except StudentError as error:
            if error.is_a("NotImplementedError"):
                raise raised(error, call_text(NAME, **kwargs), NAME) from None
            raise MISTAKES["rejects_valid_arguments"].failure(what=call_text(NAME, **kwargs), error=error) from None
    for kwargs in invalid:
        expect_error("ValueError", NAME, call_text(NAME, **kwargs), "patience must be at least 1 and min_delta at least 0",
                     impl.new_object, NAME, **kwargs)


def _verdict(impl, cases: list[Case], rng: np.random.Generator | None) -> None:
    """Every check on every case; the cases built with no arguments last, so that a wrong default is
    named only once the rule itself is right."""
    _check_construction(impl, rng)
    runs = [_run(impl, case) for case in sorted(cases, key=lambda c: c.defaults)]
    _check_stopping(runs)
    _check_weights(impl, runs)
    _check_attributes(runs)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def _random_state(rng: np.random.Generator) -> dict[str, np.ndarray]:
    state = {}
    for key, like in _template().items():
        if like.dtype.kind == "i":
            state[key] = np.array(rng.integers(1, 10_000), dtype=like.dtype).reshape(like.shape)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, like.shape).astype(like.dtype)
        else:
            state[key] = rng.standard_normal(like.shape).astype(like.dtype)
    return state


def _with_states(case: Case, rng: np.random.Generator) -> Case:
    case.states = [_random_state(rng) for _ in case.losses]
    return case


def _random_losses(rng: np.random.Generator, min_delta: float, n: int, nan: bool) -> list[float]:
    """A loss curve on the 1/64 grid, rich in the moments mistakes get wrong: ties with best_loss -
    min_delta, gains smaller than min_delta, losses a little worse than the best, plateaus, NaN."""
    losses = [float(rng.integers(128, 224)) * GRID]
    best = losses[0]
    d = round(min_delta / GRID)
    moves = ["improve", "boundary", "small", "worse_within", "worse", "nan"]
    weights = np.array([4, 2, 2 if d > 1 else 0, 2 if d > 0 else 0, 3, 1 if nan else 0], dtype=float)
    for _ in range(n - 1):
        move = moves[rng.choice(len(moves), p=weights / weights.sum())]
        m = int(rng.integers(1, 9))
        if move == "improve" and best - min_delta - m * GRID >= 0.25:
            loss = best - min_delta - m * GRID
        elif move == "boundary":
            loss = best - min_delta
        elif move == "small":
            loss = best - int(rng.integers(1, d)) * GRID
        elif move == "worse_within":
            loss = best + int(rng.integers(1, d + 1)) * GRID
        elif move == "nan":
            loss = math.nan
        else:
            loss = best + m * GRID
        losses.append(loss)
        if loss < best - min_delta:
            best = loss
    return losses


# The designed cases: each a function of a generator giving one clause's case. They all share one
# shape, `_last_call_decides`: an improvement, patience - 1 clearly worse calls, then the loss under
# test; the specification stops exactly there (it is no improvement), a mistake that counts it as
# an improvement goes on, and patience + 1 clearly worse calls follow so that it stops later.
def _draw(rng: np.random.Generator, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _last_call_decides(rng, last, patience: int, min_delta: float, best: float, first=None,
                       restore: bool = True) -> Case:
    """[first, best, patience - 1 worse, last(best), patience + 1 worse]; `first` defaults to a loss
    above best + min_delta, so that best is an improvement at call 2."""
    worse = [best + min_delta + _draw(rng, 1, 8) * GRID for _ in range(2 * patience)]
    first = best + min_delta + _draw(rng, 1, 8) * GRID if first is None else first
    losses = [first, best] + worse[:patience - 1] + [last(best)] + worse[patience - 1:]
    return Case(losses, patience=patience, min_delta=min_delta, restore=restore)


def _grid_loss(rng) -> float:
    return _draw(rng, 64, 160) * GRID


def _delta(rng) -> float:
    return float(rng.choice([2, 4, 8])) * GRID


def _tie_case(rng):
    """A tie with best_loss is no improvement (strict <); the exact patience boundary."""
    return _last_call_decides(rng, lambda best: best, _draw(rng, 2, 4), 0.0, _grid_loss(rng))


def _exact_delta_case(rng):
    """A gain of exactly min_delta is no improvement: strict, and min_delta is used."""
    d = _delta(rng)
    return _last_call_decides(rng, lambda best: best - d, _draw(rng, 2, 4), d, _grid_loss(rng))


def _small_gain_case(rng):
    """A gain smaller than min_delta is no improvement."""
    d = _delta(rng)
    gain = _draw(rng, 1, round(d / GRID) - 1) * GRID
    return _last_call_decides(rng, lambda best: best - gain, _draw(rng, 1, 4), d, _grid_loss(rng))


def _worse_within_delta_case(rng):
    """A loss worse than the best by less than min_delta is no improvement (min_delta is subtracted)."""
    d = _delta(rng)
    excess = _draw(rng, 1, round(d / GRID) - 1) * GRID
    return _last_call_decides(rng, lambda best: best + excess, _draw(rng, 1, 4), d, _grid_loss(rng))


def _nan_case(rng):
    """A NaN is no improvement and counts towards patience."""
    d = float(rng.choice([0, 1, 4])) * GRID
    return _last_call_decides(rng, lambda best: math.nan, _draw(rng, 1, 4), d, _grid_loss(rng))


def _nan_first_case(rng):
    """A NaN first loss is no improvement either; best_epoch counts it (the improvement is call 2)."""
    return _last_call_decides(rng, lambda best: best + GRID, _draw(rng, 2, 4), 0.0, _grid_loss(rng), first=math.nan)


def _no_copy_case(rng):
    """Only NaN until the stop: nothing to restore, the model keeps its weights, True is returned."""
    patience = _draw(rng, 1, 3)
    return Case([math.nan] * patience + [_grid_loss(rng)] * 3, patience=patience, restore=True)


def _reset_case(rng):
    """Each improvement resets counter: patience - 1 bad calls, an improvement, again, then the stop."""
    patience, loss = _draw(rng, 2, 4), _draw(rng, 96, 160) * GRID
    losses = [loss]
    for _ in range(2):
        losses += [loss + _draw(rng, 1, 8) * GRID for _ in range(patience - 1)]
        loss -= _draw(rng, 1, 8) * GRID
        losses.append(loss)
    losses += [loss + _draw(rng, 1, 8) * GRID for _ in range(patience + 1)]
    return Case(losses, patience=patience, restore=True)


def _no_stop_case(rng):
    """The losses end one call before patience runs out: never True, the model never touched."""
    case = _last_call_decides(rng, lambda best: best + GRID, _draw(rng, 2, 4), 0.0, _grid_loss(rng))
    case.losses = case.losses[:case.patience + 1]  # first, best and patience - 1 worse calls
    return case


def _restore_false_case(rng):
    """restore_best_weights=False: the model keeps its latest weights when training stops."""
    return _last_call_decides(rng, lambda best: best + GRID, _draw(rng, 1, 4), 0.0, _grid_loss(rng), restore=False)


def _defaults_losses(start: float, worse) -> list[float]:
    """start, 4 worse, start - 2^-20, 4 worse, start - 2 * 2^-20, ..., start - m * 2^-20, then 6
    worse, where len(worse) = 4 m + 6.

    With the defaults every gain of 2^-20 is an improvement (min_delta=0.0) just before the 5th bad
    call, which stops only after the last one (patience=5). A positive default min_delta of 2^-20
    or more stops at call 6, a default patience of 4 at call 5, of 6 one call after the right one."""
    patience = DEFAULTS["patience"]
    worse = list(worse)
    losses, k = [start], 1
    while len(worse) > patience + 1:
        losses += worse[:patience - 1] + [start - k * EPSILON]
        worse, k = worse[patience - 1:], k + 1
    return losses + worse


def _defaults_case(rng):
    """EarlyStopping(): gains of 2^-20 improve (min_delta=0.0), the 5th bad call in a row stops
    (patience=5, never the 4th or the 6th), the best weights come back (restore_best_weights=True)."""
    start = _draw(rng, 36, 52) * GRID  # in [0.5, 1): start - k 2^-20 is exact in float32 too
    worse = [start + _draw(rng, 1, 8) * GRID for _ in range(4 * _draw(rng, 1, 3) + DEFAULTS["patience"] + 1)]
    return Case(_defaults_losses(start, worse), defaults=True)


DESIGNED = (_tie_case, _exact_delta_case, _small_gain_case, _worse_within_delta_case, _nan_case, _nan_first_case,
            _no_copy_case, _reset_case, _no_stop_case, _restore_false_case, _defaults_case)


def _designed_cases(rng: np.random.Generator) -> list[Case]:
    return [make(rng) for make in DESIGNED]


KINDS = ("tie", "exact_delta", "small_gain", "worse_within", "tiny_gain", "nan", "nan_first", "reset",
         "restore_stop", "restore_false_stop", "stop_without_copy", "no_stop", "defaults")


def _kinds(case: Case) -> set[str]:
    """The moments of the rule a case holds (KINDS), read off its losses and the oracle's answers:
    a tie with the best loss, a gain of exactly min_delta > 0, a smaller gain, a loss worse by
    less than min_delta, a gain below 1e-3 that counts, NaN (first or later), an improvement that
    resets the counter, and how the case ends."""
    kinds, best, counter = set(), math.inf, 0
    trace = case.predicted()
    for call, (loss, (_, counter_after, best_epoch, best_after)) in enumerate(zip(case.losses, trace), start=1):
        gain, d = best - loss, case.min_delta
        if loss != loss:
            kinds.add("nan_first" if call == 1 else "nan")
        elif best < math.inf:
            kinds |= {name for name, holds in (("tie", gain == d == 0), ("exact_delta", gain == d > 0),
                                               ("small_gain", 0 < gain < d), ("worse_within", -d < gain < 0),
                                               ("tiny_gain", d < gain < 1e-3)) if holds}
        if best_epoch == call and counter > 0:
            kinds.add("reset")
        best, counter = best_after, counter_after
    stop = _stop_call(trace)
    if stop is None:
        kinds.add("no_stop")
    else:
        kinds.add("stop_without_copy" if trace[-1][2] == 0 else "restore_stop" if case.restore else "restore_false_stop")
    return kinds | ({"defaults"} if case.defaults else set())


def _catches(cases: list[Case], mistake: str) -> int:
    """How many of the cases stop at another call under `mistake` than under the specification."""
    return sum(_stop_call(c.predicted(mistake)) != _stop_call(c.predicted()) for c in cases)


def _confused(cases: list[Case]) -> list[tuple[str, str]]:
    """Pairs of known mistakes that stop at the same calls on every case: the diagnosis could
    not tell one from the other (the first listed would be named)."""
    stops = {m: [_stop_call(c.predicted(m)) for c in cases] for m in STOPPING_MISTAKES}
    return [(a, b) for i, a in enumerate(STOPPING_MISTAKES) for b in STOPPING_MISTAKES[i + 1:] if stops[a] == stops[b]]


def _default_variants() -> list[tuple[int, float]]:
    """(patience, min_delta) of the wrong defaults the defaults cases must tell from the right ones."""
    return [(4, 0.0), (6, 0.0), (5, 1e-3), (5, 1e-4), (5, 1e-5), (5, 1e-6)]


def _catches_default(cases: list[Case], patience: int, min_delta: float) -> bool:
    """Does some defaults case stop elsewhere with these defaults than with the right ones?"""
    return any(_stop_call(_oracle(c.losses, patience, min_delta)) != _stop_call(c.predicted())
               for c in cases if c.defaults)


def _hidden_cases(rng: np.random.Generator) -> list[Case]:
    """The designed cases, drawn afresh, then random cases until every mistake that changes when
    training stops is caught by at least two cases."""
    cases = _designed_cases(rng)
    missed = [m for m in STOPPING_MISTAKES if not _catches(cases, m)] + _confused(cases)
    missed += [v for v in _default_variants() if not _catches_default(cases, *v)]
    if missed:  # the designed cases are built so that this never happens; refuse to grade if it does
        raise RuntimeError(f"the designed cases do not catch {missed}")
    cases.append(Case(_random_losses(rng, 0.0, 14, nan=False), defaults=True))
    while len(cases) < 36 or (min(_catches(cases, m) for m in STOPPING_MISTAKES) < 2 and len(cases) < 120):
        min_delta = float(rng.choice([0, 1, 2, 4, 8])) * GRID
        cases.append(Case(_random_losses(rng, min_delta, int(rng.integers(6, 21)), nan=rng.random() < 0.3),
                          patience=int(rng.integers(1, 6)), min_delta=min_delta, restore=bool(rng.random() < 0.75)))
    return [_with_states(case, rng) for case in cases]


# The visible cases: every kind of case the hidden checks use, each known mistake and each wrong
# default changing the outcome of at least one of them (build_references checks).
VISIBLE_CASES = [
    # a tie with the best loss is no improvement: stops at call 4 and restores call 2
    dict(losses=[1.0, 0.75, 0.875, 0.75, 0.5, 0.625, 0.625], patience=2, min_delta=0.0, restore=True),
    # gains of 1/16 and exactly 1/8 do not beat min_delta=1/8; gains of 1/4 do
    dict(losses=[2.0, 1.75, 1.6875, 1.625, 1.5, 1.4375, 1.5, 1.375, 1.5, 1.25, 1.25], patience=3, min_delta=0.125,
         restore=True),
    # a NaN never improves; restore_best_weights=False leaves the latest weights
    dict(losses=[0.5, 0.375, math.nan, 0.25], patience=1, min_delta=0.0, restore=False),
    # NaN counts towards patience, an improvement in between resets it
    dict(losses=[1.5, math.nan, 1.25, 1.375, math.nan, 1.0], patience=2, min_delta=0.0, restore=True),
    # a loss a little worse than the best is no improvement, whatever min_delta
    dict(losses=[1.0, 1.125, 1.0625, 0.5], patience=2, min_delta=0.25, restore=True),
    # the defaults: patience=5, min_delta=0, restore_best_weights=True
    dict(losses=[1.0, 0.875, 0.9375, 0.875, 1.0, 0.90625, 0.875, 0.8125, 0.8125], defaults=True),
    # the defaults again, with gains of 2^-20 (far below 1e-3): improvements, since min_delta=0.0;
    # each comes on the 5th call without one, so patience=5 exactly goes on until the last
    dict(losses=_defaults_losses(0.75, [0.875] * 14), defaults=True),
    # a NaN first loss is no improvement either: the first improvement is call 2, restored at the stop
    dict(losses=[math.nan, 1.0, math.nan, 1.0, 1.125], patience=3, min_delta=0.0, restore=True),
    # only NaN until the stop: nothing to restore, so the model keeps its weights
    dict(losses=[math.nan, 0.5], patience=1, min_delta=0.0, restore=True),
    # a NaN counts towards patience like any call without improvement: stops at call 3
    dict(losses=[1.0, math.nan, 1.125, 1.125], patience=2, min_delta=0.0, restore=True),
    # the losses end before patience runs out: never True, and the model is never touched
    dict(losses=[1.0, 1.125, 0.875, 1.0, 0.9375], patience=3, min_delta=0.0, restore=True),
]


def _visible_cases(ref: dict) -> list[Case]:
    keys = list(_template())
    cases = []
    for i in range(int(ref["n_cases"])):
        p = f"case{i}_"
        case = Case(losses=[float(x) for x in ref[p + "losses"]], patience=int(ref[p + "patience"]),
                    min_delta=float(ref[p + "min_delta"]), restore=bool(ref[p + "restore"]),
                    defaults=bool(ref[p + "defaults"]))
        case.states = [{k: ref[p + "state_" + k][j] for k in keys} for j in range(len(case.losses))]
        cases.append(case)
    return cases


# --------------------------------------------------------------------------------------------
# the part
# --------------------------------------------------------------------------------------------
def visible_EarlyStopping(impl, ref) -> None:
    """The designed and random cases shipped in the references, and the fixed construction arguments."""
    cases = _visible_cases(ref)
    for i, case in enumerate(cases):  # the shipped expectations are the oracle's (build_references checks)
        if int(ref[f"case{i}_stop_call"]) != (_stop_call(case.predicted()) or 0):
            raise RuntimeError(f"reference case {i} disagrees with the oracle: rebuild the references")
    _verdict(impl, cases, rng=None)


def hidden_EarlyStopping(impl, rng: np.random.Generator) -> None:
    """The same kinds of case and construction arguments, drawn afresh."""
    _verdict(impl, _hidden_cases(rng), rng)


PARTS = table(Part(NAME, CHAPTER, visible_EarlyStopping, hidden_EarlyStopping, MISTAKES))


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _plateau_stop_call(losses, patience: int, min_delta: float) -> int:
    """The call at which torch's ReduceLROnPlateau first cuts the rate: it uses the same rule
    (mode='min', threshold_mode='abs': better when loss < best - threshold; it acts when the number
    of bad epochs exceeds its patience, i.e. on our patience-th bad call). 0 if it never does."""
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=patience - 1,
                                                         threshold=min_delta, threshold_mode="abs", cooldown=0)
    for call, loss in enumerate(losses, start=1):
        plateau.step(loss)
        if optimizer.param_groups[0]["lr"] < 1.0:
            return call
    return 0


def _assert_visible_cases_catch_everything() -> None:
    """Each known mistake and each wrong default changes the outcome of some visible case."""
    cases = [Case(**spec) for spec in VISIBLE_CASES]
    for mistake in STOPPING_MISTAKES:
        if not _catches(cases, mistake):
            raise AssertionError(f"no visible case catches the mistake {mistake!r}")
    if _confused(cases):
        raise AssertionError(f"the visible cases cannot tell these mistakes apart: {_confused(cases)}")
    for variant in _default_variants():
        if not _catches_default(cases, *variant):
            raise AssertionError(f"no visible case catches the defaults (patience, min_delta) = {variant}")
    if not any(c.restore and _stop_call(c.predicted()) and c.predicted()[-1][2] == 0 for c in cases):
        raise AssertionError("no visible case stops before any improvement")
    if not any(not c.restore and _stop_call(c.predicted()) for c in cases):
        raise AssertionError("no visible case stops with restore_best_weights=False")


def build_references(ns: dict) -> dict[str, np.ndarray]:
    """The visible cases with the model states of every call, and what the instructor solution did
    on them; each outcome is checked against `_oracle` and the stopping call against torch's
    ReduceLROnPlateau, which applies the same improvement rule."""
    from autograder.checks.adapter import LocalImplementation

    _assert_visible_cases_catch_everything()
    rng = np.random.default_rng(2024)
    impl = LocalImplementation(ns)
    refs: dict[str, np.ndarray] = {"n_cases": np.array(len(VISIBLE_CASES))}
    for i, spec in enumerate(VISIBLE_CASES):
        case = _with_states(Case(**spec), rng)
        predicted = case.predicted()
        stop_call = _stop_call(predicted) or 0
        if _plateau_stop_call(case.losses, case.patience, case.min_delta) != stop_call:
            raise AssertionError(f"visible case {i}: the oracle and torch's ReduceLROnPlateau disagree")
        run = _run(impl, case)
        _verdict(impl, [case], rng=None)  # the instructor solution passes every visible check on it
        if (run.stop_call or 0) != stop_call:
            raise AssertionError(f"visible case {i}: the instructor solution stops at {run.stop_call}, not {stop_call}")
        p = f"case{i}_"
        refs.update({p + "losses": np.array(case.losses, dtype=np.float64), p + "patience": np.array(case.patience),
                     p + "min_delta": np.array(case.min_delta), p + "restore": np.array(case.restore),
                     p + "defaults": np.array(case.defaults), p + "stop_call": np.array(stop_call),
                     p + "counter": np.array([c[1] for c in predicted]),
                     p + "best_epoch": np.array([c[2] for c in predicted]),
                     p + "best_loss": np.array([c[3] for c in predicted], dtype=np.float64)})
        for key in case.states[0]:
            refs[p + "state_" + key] = np.stack([state[key] for state in case.states])
    return refs
