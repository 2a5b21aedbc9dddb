"""Checks of chapter 05 (overfitting): the EarlyStopping callback.

The student's class is driven the way `dlcourse.training.fit` drives it, once per epoch
`stop = early_stopping(val_loss, model)`, through `impl.new_object` (see adapter.LocalObject):
the model is a small probe (a Linear and a BatchNorm1d, so it has parameters AND buffers) whose
weights the check sets before every call, in place, as an optimizer would.

A case is a sequence of losses with (patience, min_delta, restore_best_weights). The object is
called on it until it returns True (fit stops there) or the sequence ends; what it returns, its
attributes after each call and the model's weights after each call are compared with `_oracle`,
a direct transcription of the specification:
    a call improves when val_loss < best_loss - min_delta (strict; best_loss starts at inf, so the
    first call improves; NaN never improves). On an improvement best_loss = val_loss, best_epoch =
    number of calls so far (1-based), counter = 0, and a deep copy of model.state_dict() is kept.
    Otherwise counter += 1, and at counter >= patience the kept copy is loaded back (with
    restore_best_weights) and the call returns True.
Losses and min_delta are multiples of 1/64, so `a < b - d`, `a + d < b` and `b - a > d` agree
exactly in floating point: every correct way of writing the test passes.

When the stopping calls differ from the oracle's, every case is replayed through `_oracle` with
one known mistake (MISTAKES); a mistake that explains every case names the diagnosis.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from autograder.checks.adapter import CheckFailed, StudentError, fresh_rng, probe_model, probe_state_template

CHAPTER = "05_overfitting"
NAME = "EarlyStopping"
ATTRIBUTES = ("best_loss", "best_epoch", "counter")
GRID = 1 / 64  # losses and min_delta are multiples of this: exact in float32 and float64 arithmetic

# Mistakes the diagnosis recognises: how `_oracle` changes, and what the student is told.
MISTAKES = {
    "non_strict": ("counts a loss of exactly best_loss - min_delta as an improvement (<= instead of <): "
                   "an improvement must be strictly better, val_loss < best_loss - min_delta; with <= a "
                   "plateau of equal losses never stops training"),
    "no_delta": ("ignores min_delta: with min_delta > 0 a loss only counts as an improvement when it beats "
                 "best_loss by more than min_delta (val_loss < best_loss - min_delta)"),
    "delta_plus": ("applies min_delta the wrong way: val_loss < best_loss + min_delta accepts losses slightly "
                   "WORSE than the best as improvements; an improvement is val_loss < best_loss - min_delta"),
    "late": ("stops one call late (off by one): return True on the patience-th call in a row without "
             "improvement, i.e. as soon as counter >= patience after counting this call"),
    "early": ("stops one call early (off by one): return True on the patience-th call in a row without "
              "improvement (counter >= patience after counting this call), not one call before"),
    "no_reset": ("does not reset counter to 0 after an improvement: patience counts the calls IN A ROW "
                 "without improvement, so every improvement starts the count again"),
    "nan_improves": ("treats a NaN loss as an improvement: a NaN never improves (val_loss < best_loss - "
                     "min_delta is False for NaN; write the test so that NaN lands on the no-improvement side)"),
    "epoch_from_0": ("best_epoch counts calls from 0: the first call is epoch 1, so after an improvement at "
                     "the k-th call best_epoch must be k"),
}
MESSAGES = {
    "shallow": ("keeps a shallow copy of the weights: model.state_dict() returns references to the model's "
                "live tensors, which training then changes in place, so the copy you load back already holds "
                "the latest weights. Keep a deep copy: copy.deepcopy(model.state_dict()) or "
                "{k: v.detach().clone() for k, v in model.state_dict().items()}"),
    "not_restored": ("returned True but did not load the best weights back into the model: keep a deep copy "
                     "of model.state_dict() at each improvement and, when you stop, call "
                     "model.load_state_dict(that copy)"),
    "early_restore": ("changes the model's weights on a call that does not stop training (it loads the best "
                      "weights back before stopping): restore them only on the call that returns True"),
    "buffers": ("restored the parameters but not the buffers (BatchNorm's running_mean, running_var, "
                "num_batches_tracked): keep and load back the whole model.state_dict(), which holds both"),
    "restore_false": ("ignores restore_best_weights=False: then the model must keep its latest weights when "
                      "training stops, but yours loaded back older ones"),
}


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
def _oracle(losses, patience: int, min_delta: float, mistake: str | None = None) -> list[tuple]:
    """[(stop, counter, best_epoch, best_loss)] after each call, up to the first stop, as the
    specification gives them (mistake=None) or as one of MISTAKES would."""
    best, best_epoch, counter, calls = math.inf, 0, 0, []
    for call, loss in enumerate(losses, start=1):
        threshold = {"no_delta": best, "delta_plus": best + min_delta}.get(mistake, best - min_delta)
        if mistake == "nan_improves":
            improved = not loss >= threshold
        elif mistake == "non_strict":
            improved = loss <= threshold
        else:
            improved = loss < threshold
        stop = False
        if improved:
            best, best_epoch = loss, call
            counter = counter if mistake == "no_reset" else 0
        else:
            counter += 1
            stop = counter >= max(1, patience + {"late": 1, "early": -1}.get(mistake, 0))
        calls.append((stop, counter, max(0, best_epoch - 1) if mistake == "epoch_from_0" else best_epoch, best))
        if stop:
            break
    return calls


# --------------------------------------------------------------------------------------------
# cases and runs
# --------------------------------------------------------------------------------------------
@dataclass
class Case:
    losses: list[float]
    patience: int = 5
    min_delta: float = 0.0
    restore: bool = True
    defaults: bool = False            # construct with EarlyStopping() and no arguments
    states: list[dict] = field(default_factory=list)  # the model's weights at each call

    def construct(self) -> dict:
        return {} if self.defaults else dict(patience=self.patience, min_delta=self.min_delta,
                                             restore_best_weights=self.restore)

    def describe(self) -> str:
        args = "EarlyStopping()" if self.defaults else (
            f"EarlyStopping(patience={self.patience}, min_delta={_fmt(self.min_delta)}, "
            f"restore_best_weights={self.restore})")
        return f"{args} called with the losses [{', '.join(_fmt(x) for x in self.losses)}]"


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


def _fmt(x: float) -> str:
    return "nan" if x != x else repr(float(x))


def _student_error(what: str, error: StudentError) -> CheckFailed:
    if error.is_a("NotImplementedError"):
        return CheckFailed(f"`{NAME}` is not implemented yet (it raised NotImplementedError): write your code in "
                           "its cell and run that cell")
    return CheckFailed(f"{what} raised {error}")


def _new(impl, kwargs: dict):
    what = f"{NAME}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        return impl.new_object(NAME, **kwargs), what
    except StudentError as error:
        raise _student_error(what, error) from None


def _attributes(obj, what: str) -> dict:
    try:
        found = obj.attributes(list(ATTRIBUTES))
    except StudentError as error:
        raise _student_error(f"reading the attributes of {what}", error) from None
    for name, value in found.items():
        if isinstance(value, str) or value is None:
            raise CheckFailed(f"{what}: attribute `{name}` must be a number, found {value}; keep best_loss "
                              "(float), best_epoch (int) and counter (int) as attributes")
    return found


def _run(impl, case: Case, in_place: bool = True) -> Run:
    obj, what = _new(impl, case.construct())
    run = Run(case, _attributes(obj, what))
    for call, (loss, state) in enumerate(zip(case.losses, case.states), start=1):
        try:
            answer, after = obj.step(loss, state, in_place=in_place)
        except StudentError as error:
            raise _student_error(f"{case.describe()}: call {call} (val_loss={_fmt(loss)})", error) from None
        if not isinstance(answer, bool):
            raise CheckFailed(f"{case.describe()}: call {call} returned {answer}; it must return True (stop) or "
                              "False (go on) on every call. Did you forget a `return False`?")
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
        case = run.case
        predicted = _oracle(case.losses, case.patience, case.min_delta, mistake)
        stop_call = len(predicted) if predicted[-1][0] else None
        if stop_call != run.stop_call:
            return False
        if attributes and not all(_attrs_match(got, want) for got, want in zip(run.attrs, predicted)):
            return False
    return True


def _attrs_match(got: dict, want: tuple) -> bool:
    _, counter, best_epoch, best_loss = want
    same_loss = got["best_loss"] == best_loss or (got["best_loss"] != got["best_loss"] and best_loss != best_loss)
    return got["counter"] == counter and got["best_epoch"] == best_epoch and same_loss


def _check_stopping(runs: list[Run], visible: bool) -> None:
    if _explains(runs, None, attributes=False):
        return
    run = next(r for r in runs if not _explains([r], None, attributes=False))
    case = run.case
    yours = f"yours returned True at call {run.stop_call}" if run.stop_call else "yours never returned True"
    for mistake in MISTAKES:
        if _explains(runs, mistake, attributes=False):
            raise CheckFailed(f"{MISTAKES[mistake]}. Example: {case.describe()}: {yours}")
    expected = ""
    if visible:
        predicted = _oracle(case.losses, case.patience, case.min_delta)
        expected = (f" (it should return True at call {len(predicted)})" if predicted[-1][0]
                    else " (it should never return True on these losses)")
    raise CheckFailed(f"{case.describe()}: {yours}{expected}. The rule: a call improves when val_loss < "
                      "best_loss - min_delta (NaN never improves); on the patience-th call in a row without "
                      "improvement return True")


def _check_attributes(runs: list[Run], visible: bool) -> None:
    for run in runs:
        first = run.initial
        if not (first["best_loss"] == math.inf and first["best_epoch"] == 0 and first["counter"] == 0):
            raise CheckFailed(f"before any call best_loss must be math.inf, best_epoch 0 and counter 0; yours are "
                              f"{first['best_loss']}, {first['best_epoch']} and {first['counter']}")
    if _explains(runs, None, attributes=True):
        return
    for mistake in MISTAKES:
        if _explains(runs, mistake, attributes=True):
            raise CheckFailed(MISTAKES[mistake])
    for run in runs:
        predicted = _oracle(run.case.losses, run.case.patience, run.case.min_delta)
        for call, (got, want) in enumerate(zip(run.attrs, predicted), start=1):
            if not _attrs_match(got, want):
                expected = (f"; expected {_fmt(want[3])}, {want[2]} and {want[1]}" if visible else "")
                raise CheckFailed(
                    f"{run.case.describe()}: after call {call} your best_loss, best_epoch and counter are "
                    f"{_fmt(got['best_loss'])}, {got['best_epoch']} and {got['counter']}{expected}. best_loss is the "
                    "loss of the last improvement, best_epoch the number of the call that made it (from 1), "
                    "counter the number of calls since then")


def _check_weights(impl, runs: list[Run]) -> None:
    """The model is untouched except on the stopping call, which restores the best call's weights."""
    parameters = _parameter_keys()
    for run in runs:
        case = run.case
        predicted = _oracle(case.losses, case.patience, case.min_delta)
        for call, (answer, after) in enumerate(zip(run.answers, run.after), start=1):
            given = case.states[call - 1]
            best_call = predicted[call - 1][2]
            best = case.states[best_call - 1] if best_call else None
            where = f"{case.describe()}, call {call}"
            if not answer or not case.restore or best is None:
                if _same_state(after, given):
                    continue
                if best is not None and _same_state(after, best):
                    raise CheckFailed(f"{MESSAGES['restore_false' if answer else 'early_restore']} ({where})")
                raise CheckFailed(f"{where}: your object changed the model's weights; it may only load the best "
                                  "weights back on the call that returns True, and only with restore_best_weights")
            if _same_state(after, best):
                continue
            if _same_state(after, best, parameters) and not _same_state(after, best):
                raise CheckFailed(f"{MESSAGES['buffers']} ({where})")
            if _same_state(after, given):
                replay = _run(impl, case, in_place=False)
                if replay.stop_call == call and _same_state(replay.after[-1], best):
                    raise CheckFailed(f"{MESSAGES['shallow']} ({where})")
                raise CheckFailed(f"{MESSAGES['not_restored']} ({where}: the best call was {best_call})")
            held = [k for k, state in enumerate(case.states[:call], start=1) if _same_state(after, state)]
            if held:
                raise CheckFailed(f"{where}: after returning True the model holds the weights it had at call "
                                  f"{held[-1]}, but the best loss was seen at call {best_call}: keep a copy at each "
                                  "improvement and load that one back")
            raise CheckFailed(f"{where}: after returning True the model's weights are not those of the best call "
                              f"({best_call}): load back exactly what model.state_dict() held then")


def _check_construction(impl, hidden: bool) -> None:
    for kwargs in ({}, {"patience": 1, "min_delta": 0.0, "restore_best_weights": False}):
        _new(impl, kwargs)
    bad = [{"patience": 0}, {"min_delta": -GRID}]
    if hidden:
        bad += [{"patience": -3, "min_delta": 0.5}, {"patience": 2, "min_delta": -1e-9}]
    for kwargs in bad:
        what = f"{NAME}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        try:
            impl.new_object(NAME, **kwargs)
        except StudentError as error:
            if error.is_a("ValueError"):
                continue
            raise _student_error(what, error) from None
        raise CheckFailed(f"{what} must raise ValueError: patience must be at least 1 and min_delta at least 0")


def _verdict(impl, cases: list[Case], hidden: bool) -> None:
    _check_construction(impl, hidden)
    runs = [_run(impl, case) for case in cases]
    _check_stopping(runs, visible=not hidden)
    _check_weights(impl, runs)
    _check_attributes(runs, visible=not hidden)


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


def _hidden_cases(rng: np.random.Generator) -> list[Case]:
    """Random cases until every mistake that changes when training stops is caught by two of them."""
    cases = [Case(_random_losses(rng, 0.0, 14, nan=False), defaults=True)]
    caught = {m: 0 for m in MISTAKES if m != "epoch_from_0"}
    while len(cases) < 24 or (min(caught.values()) < 2 and len(cases) < 120):
        min_delta = float(rng.choice([0, 1, 2, 4, 8])) * GRID
        case = Case(_random_losses(rng, min_delta, int(rng.integers(6, 21)), nan=rng.random() < 0.3),
                    patience=int(rng.integers(1, 6)), min_delta=min_delta, restore=bool(rng.random() < 0.75))
        cases.append(case)
        correct = _oracle(case.losses, case.patience, case.min_delta)
        for mistake in caught:
            if _oracle(case.losses, case.patience, case.min_delta, mistake) != correct:
                caught[mistake] += 1
    if min(caught.values()) < 2:  # practically impossible (each random case catches most mistakes)
        raise RuntimeError(f"the random cases do not separate every mistake: {caught}")
    return [_with_states(case, rng) for case in cases]


# The visible cases: each known mistake changes the outcome of at least one of them.
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
def check_EarlyStopping(impl, hidden: bool) -> None:
    if not hidden:
        from autograder.references import load

        ref = load(CHAPTER)
        cases = _visible_cases(ref)
        for i, case in enumerate(cases):  # the shipped expectations are the oracle's (build_references checks)
            predicted = _oracle(case.losses, case.patience, case.min_delta)
            if int(ref[f"case{i}_stop_call"]) != (len(predicted) if predicted[-1][0] else 0):
                raise RuntimeError(f"reference case {i} disagrees with the oracle: rebuild the references")
        _verdict(impl, cases, hidden=False)
        return
    _verdict(impl, _hidden_cases(fresh_rng()), hidden=True)


PARTS = {NAME: check_EarlyStopping}


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


def build_references(ns: dict) -> dict[str, np.ndarray]:
    """The visible cases with the model states of every call, and what the instructor solution did
    on them; each outcome is checked against `_oracle` and the stopping call against torch's
    ReduceLROnPlateau, which applies the same improvement rule."""
    from autograder.checks.adapter import LocalImplementation

    rng = np.random.default_rng(2024)
    impl = LocalImplementation(ns)
    refs: dict[str, np.ndarray] = {"n_cases": np.array(len(VISIBLE_CASES))}
    for i, spec in enumerate(VISIBLE_CASES):
        case = _with_states(Case(**spec), rng)
        predicted = _oracle(case.losses, case.patience, case.min_delta)
        stop_call = len(predicted) if predicted[-1][0] else 0
        if _plateau_stop_call(case.losses, case.patience, case.min_delta) != stop_call:
            raise AssertionError(f"visible case {i}: the oracle and torch's ReduceLROnPlateau disagree")
        run = _run(impl, case)
        _verdict(impl, [case], hidden=False)  # the instructor solution passes every visible check on it
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
    cases = [Case(**spec) for spec in VISIBLE_CASES]
    for mistake in MISTAKES:
        if mistake != "epoch_from_0" and all(_oracle(c.losses, c.patience, c.min_delta, mistake)
                                             == _oracle(c.losses, c.patience, c.min_delta) for c in cases):
            raise AssertionError(f"no visible case catches the mistake {mistake!r}")
    return refs
