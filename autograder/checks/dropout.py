"""Checks of chapter 02 (dropout): dropout_forward, dropout_backward and the Dropout module.

Everything here talks to the student's code through `impl` (see adapter.py), so the same checks
run in a notebook's self-check and, in the grading command, against a sandboxed worker.

Randomness is never compared value by value: the mask of a forward pass is read from the zero
pattern of the output on inputs that have no zeros, kept values must equal x / (1 - p), and the
number of dropped units must lie within 6 binomial standard deviations of n * p (a false failure
has probability below 1e-8 per draw). Any correct implementation passes, whatever way it draws
its mask (bool or 0/1, uniform comparisons, binomial or Bernoulli draws).

The visible and the hidden checks of a part run the same clause checks (`_check_*`), the visible
ones on the shipped reference inputs, the hidden ones on fresh inputs of more shapes, dtypes and p.
So every clause (each edge case, dtype, default, error, autograd, the use of the random generator)
is graded on every run, and a self-check that passes has already met every kind of requirement
the hidden tests grade.
"""
from __future__ import annotations

import numpy as np

from autograder import forbidden
from autograder.checks import mistakes
from autograder.checks.adapter import CheckFailed, Rng, StudentError
from autograder.checks.calling import call, expect_error, raised
from autograder.checks.closeness import PerDtype, Tolerance, close
from autograder.checks.formatting import call as call_text, short
from autograder.checks.gradients import central_difference
from autograder.checks.part import Part, table
from autograder.checks.seeds import fresh_seed
from dlcourse import course

CHAPTER = course.checked_by(__name__).name  # the chapter dlcourse.course says this module grades
FORBIDDEN_NAMES = forbidden.DROPOUT_NAMES | forbidden.COMPOSITE_NAMES  # the exercise: implement it with elementary tensor operations

SIGMAS = 6.0
# How closely a value must agree with the formula: float32 arithmetic rounds far more than float64.
FORMULA = PerDtype(float32=Tolerance(rtol=1e-5, atol=1e-6), float64=Tolerance(rtol=1e-10, atol=1e-12))
NUMERIC_GRADIENT = Tolerance(rtol=1e-6, atol=1e-8)  # central differences in float64

# Every diagnosis of the chapter (and the shared ones, mistakes.SHARED). A failure reads
# "<the call>: <message>" where the message does not name the call itself.
MISTAKES = mistakes.table(
    # dropout_forward: the drop count, the kept values (matched by `mistakes.matching`), the form of the result
    drop_fraction_inverted=("{who} dropped {dropped} of {n} units with p = {p}: about a fraction 1 - p. Your p behaves "
                            "like a keep probability; in PyTorch p is the DROP probability (keep each unit with "
                            "probability 1 - p)"),
    drop_fraction_wrong=("{who} dropped {dropped} of {n} units ({fraction:.3f}) with p = {p}: far more than chance "
                         "allows from a fraction p. Each unit must be dropped independently with probability p"),
    not_scaled=("kept values are not scaled: inverted dropout multiplies them by 1/(1 - p) during training "
                "(p = {p}: x = {x} should give {want}, you return {got})"),
    keep_probability=("kept values are scaled by 1/p instead of 1/(1 - p): your p behaves like a keep probability; "
                      "in PyTorch p is the DROP probability"),
    times_keep=("kept values are multiplied by (1 - p); inverted dropout divides by (1 - p) during training "
                "(and leaves eval alone)"),
    kept_values_wrong="kept values should be x / (1 - p) (p = {p}: x = {x} should give {want}, you return {got})",
    forward_not_pair="{what} must return a pair (out, mask), got {got}",
    out_shape_wrong="out must be an array of x's shape {shape}, got {got}",
    mask_shape_wrong="mask must be an array of x's shape {shape}, got {got}",
    mask_not_boolean="mask must hold only True/False (or 1/0), found {found}; scaling belongs in out, not in the mask",
    x_changed_in_place="{what} changed its input x in place: return a new array",
    mask_none_in_training="mask is None in training mode; return the mask you drew (True = kept)",
    nan_at_p1="{value} holds NaN or inf at p = 1; p == 1 must give zeros, never NaN (1 - p is 0: do not divide by it)",
    not_finite="{value} holds NaN or inf",
    mask_inverted="out is zero where mask is True: mask must be True where a unit is KEPT",
    dropped_not_zero="out is not zero where mask is False (dropped units must give 0)",
    p1_keeps_units="with p = 1 every unit is dropped, but mask marks some as kept",
    kept_zero="out is zero where mask is True (kept units): out must be x * mask / (1 - p)",
    eval_zeros_at_p1=("eval mode returned zeros at p = 1: eval is the identity whatever p (handle train=False before "
                      "p == 1)"),
    eval_scaled=("eval output is scaled by (1 - p): with inverted dropout eval is the identity (the scaling already "
                 "happened during training)"),
    dropped_in_eval="units are dropped in eval mode (train=False): eval must return x unchanged and mask None",
    eval_not_identity="eval output must equal x (you return {got} for x = {x})",
    eval_mask_not_none="mask must be None in eval mode (nothing is dropped); did you draw a mask although train=False?",
    p0_drops="p == 0 drops nothing: out must equal x and mask keep every unit",
    rng_ignored=("two calls with generators of the same seed gave different masks: draw the mask from `rng` (use "
                 "np.random.default_rng() only when rng is None)"),
    rng_none_fixed=("dropout_forward with rng=None returned the same mask twice: rng=None means a fresh "
                    "np.random.default_rng() on every call"),
    # dropout_backward
    backward_not_array="{what} must return dx, an array of dout's shape {shape}, got {got}",
    dout_changed_in_place="{what} changed dout in place: return a new array",
    new_mask_in_backward=("dx is not zero exactly where the given mask drops units: backward must reuse the forward's "
                          "mask (passed in as `mask`), not draw a new one"),
    backward_not_scaled=("dx is not scaled: backward must multiply by 1/(1 - p) like the forward "
                         "(you return {got} where dout is {dout})"),
    backward_keep_probability="dx is scaled by 1/p instead of 1/(1 - p): p is the DROP probability",
    backward_wrong="dx should be dout * mask / (1 - p) (you return {got} where dout is {dout})",
    backward_eval_not_dout=("with mask None (eval mode, where the forward was the identity) dx must be dout unchanged, "
                            "whatever p (handle mask None before p == 1)"),
    backward_not_numeric="dx disagrees with the numerical gradient of the forward pass",
    forward_mask_not_reused=("with the mask from your dropout_forward, dx is not zero exactly where that mask drops "
                             "units: backward must reuse the forward's mask"),
    # Dropout
    module_shape_wrong="the output must have the input's shape {shape}, got {got}",
    dtype_changed="the output has dtype {got}; it must keep the input's dtype {want} (like torch.nn.Dropout)",
    output_nan_at_p1="the output holds NaN or inf at p = 1; p == 1 must give zeros, never NaN",
    gradient_nan_at_p1="the input gradient holds NaN or inf at p = 1 (guard the division by 1 - p)",
    gradient_wrong=("the input gradient should be dout * mask / (1 - p) with the mask of this forward pass (build the "
                    "output from x with torch operations so autograd sees them)"),
    module_eval_zeros_at_p1=("the output is zeros: eval mode is the identity whatever p (handle self.training before "
                       "p == 1)"),
    module_eval_scaled="eval output is scaled: with inverted dropout eval is the identity",
    ignores_training_flag=("the module still drops units after .eval(): check self.training in forward and return "
                           "the input unchanged when it is False"),
    module_eval_not_identity="the output must be the input unchanged",
    eval_gradient_not_dout="the input gradient must be dout unchanged (the identity)",
    training_flag_not_set="{what}.train({training}) left module.training at {actual}",
    starts_in_eval="a new {what} must start in training mode (call super().__init__() first)",
    has_parameters=("{what} has parameters {names}; dropout has none (torch.nn.Dropout has no parameters): keep p as "
                    "a plain attribute"),
    has_buffers=("{what} has buffers {names}; dropout has none (torch.nn.Dropout has no buffers): keep p as a plain "
                 "attribute"),
    has_state=("{what}.state_dict() has entries {names}; torch.nn.Dropout's is empty: keep p as a plain attribute, "
               "not a buffer"),
    default_p_wrong=("kept values are scaled by {scale:.4g}, as for p = {p:.3g}; the default must be p=0.5 (kept "
                     "values doubled), like torch.nn.Dropout()"),
    default_p_scale_wrong=("kept values are scaled by {scale:.4g}; the default must be p=0.5 (kept values doubled), "
                           "like torch.nn.Dropout()"),
    mask_drawn_once="{what} dropped the same units on two calls: draw a fresh mask in every forward call",
    mask_not_from_torch=("torch.manual_seed(s) before two calls gave different masks: draw the mask with torch's "
                         "random number generator (e.g. torch.rand_like), not NumPy's"),
    mask_ignores_seed="different torch seeds gave the same mask: draw it with torch's generator",
    module_p0_not_identity="{what} in training mode must be the identity (nothing dropped, scale 1)",
    p1_cuts_graph=("forward and backward in training mode raised {error}; at p = 1 build the zeros from x (e.g. x * 0) "
                   "so that autograd still reaches the input"),
    module_nan_at_p1="output or gradient holds NaN or inf; p == 1 must give zeros, never NaN",
    module_p1_not_zeros="{what} in training mode must give zeros (and zero gradients)",
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _no_zero_input(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Values in +-[0.5, 2]: no zeros, so the zeros of an output are exactly the dropped units."""
    magnitude = rng.uniform(0.5, 2.0, size=shape)
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * magnitude).astype(dtype)


def _fraction_bound(n: int, p: float) -> float:
    return SIGMAS * np.sqrt(n * p * (1.0 - p)) + 1.0


def _check_drop_count(n_dropped: int, n: int, p: float, who: str) -> None:
    """n_dropped ~ Binomial(n, p) for a correct implementation: 6-sigma bound."""
    if abs(n_dropped - n * p) <= _fraction_bound(n, p):
        return
    if abs(n_dropped - n * (1.0 - p)) <= _fraction_bound(n, p):
        raise MISTAKES["drop_fraction_inverted"].failure(who=who, dropped=n_dropped, n=n, p=p)
    raise MISTAKES["drop_fraction_wrong"].failure(who=who, dropped=n_dropped, n=n, fraction=n_dropped / n, p=p)


def _diagnose_kept_values(x_kept: np.ndarray, out_kept: np.ndarray, p: float, who: str, dtype) -> None:
    """Kept values must be x / (1 - p); name the usual wrong scalings."""
    tolerance = FORMULA(dtype)
    want = x_kept / (1.0 - p)
    if x_kept.size == 0 or close(out_kept, want, tolerance):
        return
    candidates = [("not_scaled", x_kept)] + ([("keep_probability", x_kept / p)] if p > 0 else []) + [
        ("times_keep", x_kept * (1.0 - p))]
    values = {"p": p, "x": short(x_kept), "want": short(want), "got": short(out_kept)}
    mistake = mistakes.matching(out_kept, candidates, MISTAKES, lambda a, b: close(a, b, tolerance))
    if mistake:
        raise mistake.failure(who, **values)
    raise MISTAKES["kept_values_wrong"].failure(who, **values)


# --------------------------------------------------------------------------------------------
# dropout_forward
# --------------------------------------------------------------------------------------------
INVALID_P = (-0.1, 1.5, 2.0)  # outside [0, 1]: ValueError, in training and in eval mode


def _forward(impl, x, p, train=True, rng=None, what=None):
    """Call dropout_forward; return (out, mask, x_after) after checking the result's form."""
    what = what or f"dropout_forward(x of shape {x.shape}, p={p}, train={train})"
    try:
        result, args_after = impl.call("dropout_forward", x, p, train=train, rng=rng)
    except StudentError as error:
        raise raised(error, what, "dropout_forward") from None
    if not isinstance(result, tuple) or len(result) != 2:
        raise MISTAKES["forward_not_pair"].failure(what=what, got=type(result).__name__)
    out, mask = result
    if not isinstance(out, np.ndarray) or out.shape != x.shape:
        raise MISTAKES["out_shape_wrong"].failure(what, shape=x.shape, got=getattr(out, 'shape', type(out).__name__))
    if train and mask is not None:
        if not isinstance(mask, np.ndarray) or mask.shape != x.shape:
            raise MISTAKES["mask_shape_wrong"].failure(what, shape=x.shape,
                                                       got=getattr(mask, 'shape', type(mask).__name__))
        if not np.all((mask == 0) | (mask == 1)):
            raise MISTAKES["mask_not_boolean"].failure(what, found=short(np.unique(mask)))
    x_after = args_after[0] if args_after else x
    if isinstance(x_after, np.ndarray) and not np.array_equal(x_after, x):
        raise MISTAKES["x_changed_in_place"].failure(what=what)
    return out, mask, what


def _check_train_forward(impl, x, p, rng) -> np.ndarray:
    """One training-mode call on an input without zeros: form, zeros where dropped, kept = x/(1-p)."""
    out, mask, what = _forward(impl, x, p, train=True, rng=rng)
    if mask is None:
        raise MISTAKES["mask_none_in_training"].failure(what)
    if not np.all(np.isfinite(out)):
        raise MISTAKES["nan_at_p1" if p == 1.0 else "not_finite"].failure(what, value="out")
    keep = mask.astype(bool)
    if np.any(out[~keep] != 0):
        if not np.any(out[keep] != 0) and keep.any():
            raise MISTAKES["mask_inverted"].failure(what)
        raise MISTAKES["dropped_not_zero"].failure(what)
    if p == 1.0:
        if keep.any():
            raise MISTAKES["p1_keeps_units"].failure(what)
        return keep
    if np.any(out[keep] == 0):
        raise MISTAKES["kept_zero"].failure(what)
    _diagnose_kept_values(x[keep], out[keep], p, what, x.dtype)
    return keep


def _check_eval_forward(impl, x, p) -> None:
    """Eval mode (train=False) returns x unchanged and mask None, whatever p."""
    out, mask, what = _forward(impl, x, p, train=False)
    if not np.array_equal(out, x):
        if p == 1.0 and np.all(out == 0):
            raise MISTAKES["eval_zeros_at_p1"].failure(what)
        if p > 0 and close(out, x * (1.0 - p), FORMULA(x.dtype)):
            raise MISTAKES["eval_scaled"].failure(what)
        if mask is not None or np.any((out == 0) & (x != 0)):
            raise MISTAKES["dropped_in_eval"].failure(what)
        raise MISTAKES["eval_not_identity"].failure(what, got=short(out), x=short(x))
    if mask is not None:
        raise MISTAKES["eval_mask_not_none"].failure(what)


def _check_p_edges(impl, x, seed: int) -> None:
    """p == 0 keeps every unit (out == x); p == 1 drops every unit (zeros, never NaN); eval is the identity at both."""
    out, mask, what = _forward(impl, x, 0.0, rng=Rng(seed))
    if not close(out, x, FORMULA(x.dtype)) or (mask is not None and not np.all(mask)):
        raise MISTAKES["p0_drops"].failure(what)
    _check_train_forward(impl, x, 1.0, Rng(seed + 1))  # zeros: every unit dropped, nothing NaN
    _check_eval_forward(impl, x, 0.0)
    _check_eval_forward(impl, x, 1.0)


def _check_rng_use(impl, x, p, seed: int) -> None:
    """The mask comes from `rng`: generators of the same seed give the same mask; rng=None a fresh one per call."""
    first = _check_train_forward(impl, x, p, Rng(seed))
    second = _check_train_forward(impl, x, p, Rng(seed))
    if not np.array_equal(first, second):
        raise MISTAKES["rng_ignored"].failure("dropout_forward")
    first = _check_train_forward(impl, x, p, None)
    second = _check_train_forward(impl, x, p, None)
    if np.array_equal(first, second):
        raise MISTAKES["rng_none_fixed"].failure()


def _check_rejects_invalid_p(impl, x) -> None:
    """Each p of INVALID_P raises ValueError, in training and in eval mode."""
    for p in INVALID_P:
        for train in (True, False):
            expect_error("ValueError", "dropout_forward", f"dropout_forward(x, p={p}, train={train})",
                         "p is a probability in [0, 1] (check it first, whatever train is)",
                         impl.call, "dropout_forward", x, p, train=train, rng=Rng(0))


def visible_dropout_forward(impl, ref) -> None:
    """Every clause once, on the shipped inputs."""
    p = float(ref["fwd_p"])
    for name in ("fwd_x", "fwd_x32"):
        _check_train_forward(impl, ref[name], p, Rng(0))
        _check_eval_forward(impl, ref[name], p)
    frac_x, frac_p = ref["frac_x"], float(ref["frac_p"])
    keep = _check_train_forward(impl, frac_x, frac_p, Rng(3))
    _check_drop_count(int((~keep).sum()), keep.size, frac_p, "dropout_forward")
    for name in ("fwd_x", "fwd_x32"):
        _check_p_edges(impl, ref[name], seed=1)
    _check_rng_use(impl, frac_x, frac_p, seed=4)
    _check_rejects_invalid_p(impl, ref["fwd_x"])


def hidden_dropout_forward(impl, rng: np.random.Generator) -> None:
    """The visible clauses on fresh inputs of more shapes, dtypes and p."""
    shapes = [(7,), (3, 4), (2, 3, 4, 5), (16, 1, 28, 28)]
    for dtype in (np.float32, np.float64):
        for shape, p in zip(shapes, (0.1, 0.25, 0.5, 0.8)):
            x = _no_zero_input(rng, shape, dtype)
            _check_train_forward(impl, x, p, Rng(fresh_seed(rng)))
            _check_eval_forward(impl, x, p)
    # the drop fraction, for several p, on inputs large enough for a tight binomial bound
    for p in (0.1, 0.3, 0.5, 0.9):
        x = _no_zero_input(rng, (200, 150), np.float64)
        keep = _check_train_forward(impl, x, p, Rng(fresh_seed(rng)))
        _check_drop_count(int((~keep).sum()), keep.size, p, "dropout_forward")
    for dtype in (np.float32, np.float64):
        _check_p_edges(impl, _no_zero_input(rng, (5, 6), dtype), fresh_seed(rng))
    _check_rng_use(impl, _no_zero_input(rng, (64, 64), np.float64), 0.5, fresh_seed(rng))
    _check_rejects_invalid_p(impl, _no_zero_input(rng, (3, 4), np.float64))


# --------------------------------------------------------------------------------------------
# dropout_backward
# --------------------------------------------------------------------------------------------
def _backward(impl, dout, mask, p, what=None):
    what = what or f"dropout_backward(dout of shape {dout.shape}, mask{'=None' if mask is None else ''}, p={p})"
    try:
        result, args_after = impl.call("dropout_backward", dout, mask, p)
    except StudentError as error:
        raise raised(error, what, "dropout_backward") from None
    if not isinstance(result, np.ndarray) or result.shape != dout.shape:
        raise MISTAKES["backward_not_array"].failure(what=what, shape=dout.shape,
                                                     got=getattr(result, 'shape', type(result).__name__))
    if args_after and isinstance(args_after[0], np.ndarray) and not np.array_equal(args_after[0], dout):
        raise MISTAKES["dout_changed_in_place"].failure(what=what)
    return result, what


def _check_backward_against(impl, dout, mask, p, expected) -> None:
    """dx for a known mask: compare with `expected` and name the likely mistake."""
    dx, what = _backward(impl, dout, mask, p)
    if not np.all(np.isfinite(dx)):
        raise MISTAKES["nan_at_p1" if p == 1.0 else "not_finite"].failure(what, value="dx")
    tolerance = FORMULA(dout.dtype)
    if close(dx, expected, tolerance):
        return
    keep = mask.astype(bool)
    if np.any((dx != 0) != keep) and np.all(dout != 0):
        raise MISTAKES["new_mask_in_backward"].failure(what)
    candidates = ([("backward_not_scaled", dout * keep)] if p < 1 else []) + (
        [("backward_keep_probability", dout * keep / p)] if p > 0 else [])
    mistake = mistakes.matching(dx, candidates, MISTAKES, lambda a, b: close(a, b, tolerance))
    if mistake:
        raise mistake.failure(what, got=short(dx[keep]), dout=short(dout[keep]))
    raise MISTAKES["backward_wrong"].failure(what, got=short(dx), dout=short(dout))


def _check_backward_edges(impl, dout) -> None:
    """mask None (eval mode) gives dout whatever p; p == 1 gives zeros (never NaN); p == 0 gives dout."""
    for p in (0.5, 1.0):
        dx, what = _backward(impl, dout, None, p)
        if not np.array_equal(dx, dout):
            raise MISTAKES["backward_eval_not_dout"].failure(what)
    _check_backward_against(impl, dout, np.zeros(dout.shape, dtype=bool), 1.0, np.zeros_like(dout))
    _check_backward_against(impl, dout, np.ones(dout.shape, dtype=bool), 0.0, dout)


def visible_dropout_backward(impl, ref) -> None:
    """Every clause once, on the shipped masks."""
    for suffix in ("", "32"):
        dout, mask = ref[f"bwd_dout{suffix}"], ref[f"bwd_mask{suffix}"]
        _check_backward_against(impl, dout, mask, float(ref[f"bwd_p{suffix}"]), ref[f"bwd_dx{suffix}"])
        _check_backward_against(impl, dout, mask, 1.0, np.zeros_like(dout))  # p == 1: zeros, whatever the mask
        _check_backward_edges(impl, dout)


def hidden_dropout_backward(impl, rng: np.random.Generator) -> None:
    """Fresh masks, shapes and p against torch autograd and a numeric gradient, and the student's own forward mask."""
    import torch

    shapes = [(5,), (4, 6), (2, 3, 4, 5), (32, 100)]
    for dtype in (np.float32, np.float64):
        for shape, p in zip(shapes, (0.2, 0.5, 0.75, 0.1)):
            dout = _no_zero_input(rng, shape, dtype)
            mask = rng.random(shape) >= p
            # oracle: torch autograd through x * mask / (1 - p) on the same mask
            xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
            (xt * torch.from_numpy(mask) / (1.0 - p)).backward(torch.from_numpy(dout.astype(np.float64)))
            _check_backward_against(impl, dout, mask, p, xt.grad.numpy().astype(dtype))
    # numeric gradient check in float64 of L(x) = sum(dout * x * mask / (1 - p))
    for shape, p in (((3, 4), 0.3), ((2, 2, 3), 0.6)):
        dout = _no_zero_input(rng, shape, np.float64)
        mask = rng.random(shape) >= p
        x0 = rng.standard_normal(shape)
        numeric = central_difference(lambda x: float(np.sum(dout * x * mask / (1.0 - p))), x0.copy())  # noqa: B023 (called here)
        dx, what = _backward(impl, dout, mask, p)
        if not close(dx, numeric, NUMERIC_GRADIENT):
            _check_backward_against(impl, dout, mask, p, numeric)  # names the mistake
            raise MISTAKES["backward_not_numeric"].failure(what)
    for dtype in (np.float32, np.float64):
        _check_backward_edges(impl, _no_zero_input(rng, (6, 7), dtype))
    # backward uses the mask of the forward pass (when the student's forward works at all)
    x = _no_zero_input(rng, (40, 50), np.float64)
    dout = _no_zero_input(rng, (40, 50), np.float64)
    try:
        (out, mask), _ = impl.call("dropout_forward", x, 0.4, train=True, rng=Rng(fresh_seed(rng)))
        usable = isinstance(mask, np.ndarray) and mask.shape == x.shape and np.all((mask == 0) | (mask == 1))
    except (StudentError, CheckFailed, TypeError, ValueError):
        usable = False
    if usable:
        dx, what = _backward(impl, dout, mask, 0.4)
        if np.any((dx != 0) != mask.astype(bool)):
            raise MISTAKES["forward_mask_not_reused"].failure(what)


# --------------------------------------------------------------------------------------------
# Dropout (torch.nn.Module)
# --------------------------------------------------------------------------------------------
def _new_dropout(impl, *args, **kwargs):
    """A new Dropout(*args, **kwargs) of the student's, and how the call is shown."""
    what = call_text("Dropout", *args, **kwargs)
    return call("Dropout", what, impl.new_module, "Dropout", *args, **kwargs), what


def _module_call(what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except StudentError as error:
        raise raised(error, what, "Dropout") from None


def _check_module_train(module, what, x, p, dout=None, seed=None) -> np.ndarray:
    """Training-mode forward (and backward if dout is given): zeros = dropped, kept = x/(1-p)."""
    call = f"{what} in training mode on x of shape {x.shape} ({x.dtype})"
    if dout is None:
        out = _module_call(call, module.forward, x, seed=seed)
        dx = None
    else:
        out, dx, grads = _module_call(call, module.forward_backward, x, dout, seed=seed)
    if not isinstance(out, np.ndarray) or out.shape != x.shape:
        raise MISTAKES["module_shape_wrong"].failure(call, shape=x.shape, got=getattr(out, 'shape', type(out).__name__))
    if out.dtype != x.dtype:
        raise MISTAKES["dtype_changed"].failure(call, got=out.dtype, want=x.dtype)
    if not np.all(np.isfinite(out)):
        if p == 1.0:
            raise MISTAKES["output_nan_at_p1"].failure(call)
        raise MISTAKES["not_finite"].failure(call, value="the output")
    keep = out != 0  # x has no zeros
    if p < 1.0:
        _diagnose_kept_values(x[keep], out[keep], p, call, x.dtype)
    if dx is not None:
        if not np.all(np.isfinite(dx)):
            if p == 1.0:
                raise MISTAKES["gradient_nan_at_p1"].failure(call)
            raise MISTAKES["not_finite"].failure(call, value="the input gradient")
        expected = np.where(keep, dout / (1.0 - p) if p < 1.0 else 0.0, 0.0)
        if not close(dx, expected, FORMULA(x.dtype)):
            raise MISTAKES["gradient_wrong"].failure(call)
    return keep


def _check_module_eval(module, what, x, dout, p) -> None:
    """Eval mode: the output is the input and the input gradient is dout, whatever p."""
    call = f"{what} in eval mode"
    out, dx, _ = _module_call(call, module.forward_backward, x, dout)
    if not np.array_equal(out, x):
        if p == 1.0 and np.all(out == 0):
            raise MISTAKES["module_eval_zeros_at_p1"].failure(call)
        if p > 0 and close(out, x * (1.0 - p), FORMULA(x.dtype)):
            raise MISTAKES["module_eval_scaled"].failure(call)
        if np.any((out == 0) & (x != 0)):
            raise MISTAKES["ignores_training_flag"].failure(call)
        raise MISTAKES["module_eval_not_identity"].failure(call)
    if not np.array_equal(dx, dout):
        raise MISTAKES["eval_gradient_not_dout"].failure(call)


def _set_training(module, what, training: bool) -> None:
    _module_call(f"{what}.train({training})", module.set_training, training)
    if module.is_training() != training:
        raise MISTAKES["training_flag_not_set"].failure(what=what, training=training, actual=not training)


def _check_train_eval_train(module, what, x, dout, p, seed=None) -> np.ndarray:
    """Training (forward and backward), then .eval() (the identity), then .train() again (dropping again).

    Returns the kept units of the first training call."""
    keep = _check_module_train(module, what, x, p, dout=dout, seed=seed)
    _set_training(module, what, False)
    _check_module_eval(module, what, x, dout, p)
    _set_training(module, what, True)
    _check_module_train(module, what, x, p)
    return keep


def _check_rejects_invalid_p_module(impl) -> None:
    """Dropout(p) with p outside [0, 1] raises ValueError."""
    for p in INVALID_P:
        expect_error("ValueError", "Dropout", f"Dropout(p={p})", "p is a probability in [0, 1]",
                     impl.new_module, "Dropout", p=p)


def _check_new_module(module, what) -> None:
    """A new Dropout is in training mode and has no parameters, buffers or state_dict entries (like torch.nn.Dropout)."""
    if not module.is_training():
        raise MISTAKES["starts_in_eval"].failure(what=what)
    parameters = _module_call(f"{what}.named_parameters()", module.parameters)
    if parameters:
        raise MISTAKES["has_parameters"].failure(what=what, names=sorted(parameters))
    buffers = _module_call(f"{what}.named_buffers()", module.buffers)
    if buffers:
        raise MISTAKES["has_buffers"].failure(what=what, names=sorted(buffers))
    state = _module_call(f"{what}.state_dict()", module.state_dict)
    if state:
        raise MISTAKES["has_state"].failure(what=what, names=sorted(state))


def _check_default_p(impl, x, seed: int) -> None:
    """Dropout() with no argument behaves as p = 0.5, like torch.nn.Dropout(): kept values doubled, about half dropped."""
    module, what = _new_dropout(impl)
    _check_new_module(module, what)
    out = _module_call(f"{what} in training mode", module.forward, x, seed=seed)
    kept = (out != 0) if isinstance(out, np.ndarray) and out.shape == x.shape else None
    if kept is not None and kept.any():
        scale = float(np.median(out[kept] / x[kept]))
        if abs(scale - 2.0) > 1e-3:
            if scale > 0:
                raise MISTAKES["default_p_wrong"].failure(what, scale=scale, p=1 - 1 / scale)
            raise MISTAKES["default_p_scale_wrong"].failure(what, scale=scale)
    keep = _check_module_train(module, what, x, 0.5, seed=seed)
    _check_drop_count(int((~keep).sum()), keep.size, 0.5, what + " (the default p is 0.5)")


def _check_masks_fresh_and_seeded(module, what, x, p, seed: int) -> None:
    """A fresh mask on every call, drawn from torch's generator: torch.manual_seed(s) reproduces it."""
    first = _check_module_train(module, what, x, p)
    second = _check_module_train(module, what, x, p)
    if np.array_equal(first, second):
        raise MISTAKES["mask_drawn_once"].failure(what=what)
    first = _check_module_train(module, what, x, p, seed=seed)
    second = _check_module_train(module, what, x, p, seed=seed)
    if not np.array_equal(first, second):
        raise MISTAKES["mask_not_from_torch"].failure(what)
    other = _check_module_train(module, what, x, p, seed=seed + 1)
    if np.array_equal(first, other):
        raise MISTAKES["mask_ignores_seed"].failure(what)


def _check_module_p_edges(impl, x, dout) -> None:
    """p = 0 is the identity in training too; p = 1 gives zeros and zero gradients that autograd still
    connects to the input (torch.zeros_like(x) would cut the graph); eval is the identity at p = 1."""
    module, what = _new_dropout(impl, p=0.0)
    out, dx, _ = _module_call(f"{what} in training mode", module.forward_backward, x, dout)
    if not (close(out, x, FORMULA(x.dtype)) and close(dx, dout, FORMULA(x.dtype))):
        raise MISTAKES["module_p0_not_identity"].failure(what=what)
    module, what = _new_dropout(impl, p=1.0)
    try:
        out, dx, _ = module.forward_backward(x, dout)
    except StudentError as error:
        if error.is_a("NotImplementedError"):
            raise raised(error, what, "Dropout") from None
        raise MISTAKES["p1_cuts_graph"].failure(what, error=error) from None
    if not (np.all(np.isfinite(out)) and np.all(np.isfinite(dx))):
        raise MISTAKES["module_nan_at_p1"].failure(what)
    if np.any(out != 0) or np.any(dx != 0):
        raise MISTAKES["module_p1_not_zeros"].failure(what=what)
    _set_training(module, what, False)
    _check_module_eval(module, what, x, dout, 1.0)


def visible_Dropout(impl, ref) -> None:
    """Every clause once, on the shipped inputs."""
    p = float(ref["mod_p"])
    x, dout = ref["mod_x"], ref["mod_dout"]
    _check_rejects_invalid_p_module(impl)
    module, what = _new_dropout(impl, p=p)
    _check_new_module(module, what)
    keep = _check_train_eval_train(module, what, x, dout, p, seed=0)
    _check_drop_count(int((~keep).sum()), keep.size, p, what)
    _check_masks_fresh_and_seeded(module, what, x, p, seed=1)
    module, what = _new_dropout(impl, p)  # p positional; float64 and 4-D
    _check_train_eval_train(module, what, ref["mod_x64"], ref["mod_dout64"], p, seed=2)
    _check_default_p(impl, x, seed=3)
    for name in ("", "64"):
        _check_module_p_edges(impl, ref[f"mod_x{name}"], ref[f"mod_dout{name}"])


def hidden_Dropout(impl, rng: np.random.Generator) -> None:
    """The visible clauses on fresh inputs of more shapes, dtypes and p."""
    _check_rejects_invalid_p_module(impl)
    module, what = _new_dropout(impl, 0.3)
    _check_new_module(module, what)
    # shapes and dtypes, forward and backward, several p
    shapes = [(8, 10), (4, 3, 5, 5), (2, 16, 7), (100,)]
    for dtype in (np.float32, np.float64):
        for shape, p in zip(shapes, (0.1, 0.3, 0.6, 0.9)):
            module, what = _new_dropout(impl, p=p)
            _check_train_eval_train(module, what, _no_zero_input(rng, shape, dtype), _no_zero_input(rng, shape, dtype), p)
    # the drop fraction for several p (p positional), and for the default p
    for p in (0.2, 0.7):
        module, what = _new_dropout(impl, p)
        keep = _check_module_train(module, what, _no_zero_input(rng, (250, 200), np.float64), p)
        _check_drop_count(int((~keep).sum()), keep.size, p, what)
    _check_default_p(impl, _no_zero_input(rng, (300, 200), np.float32), fresh_seed(rng))
    module, what = _new_dropout(impl, p=0.5)
    _check_masks_fresh_and_seeded(module, what, _no_zero_input(rng, (64, 64), np.float32), 0.5, fresh_seed(rng))
    for dtype in (np.float32, np.float64):
        _check_module_p_edges(impl, _no_zero_input(rng, (6, 9), dtype), _no_zero_input(rng, (6, 9), dtype))


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def build_references(ns: dict) -> dict[str, np.ndarray]:
    """Inputs and expected outputs of the visible checks, each checked against the formula/torch."""
    import torch

    rng = np.random.default_rng(2024)
    forward, backward, module_cls = ns["dropout_forward"], ns["dropout_backward"], ns["Dropout"]
    refs: dict[str, np.ndarray] = {
        "fwd_x": _no_zero_input(rng, (4, 6), np.float64),
        "fwd_x32": _no_zero_input(rng, (3, 5), np.float32),
        "fwd_p": np.array(0.25),
        "frac_x": _no_zero_input(rng, (50, 40), np.float64),
        "frac_p": np.array(0.3),
    }
    # the instructor's forward obeys the formula on its own mask; eval is the identity; p=1 zeros
    for name, p in (("fwd_x", 0.25), ("fwd_x32", 0.25), ("frac_x", 0.3), ("fwd_x", 1.0), ("fwd_x", 0.0)):
        x = refs[name]
        out, mask = forward(x.copy(), p, train=True, rng=np.random.default_rng(0))
        expected = np.zeros_like(x) if p == 1.0 else x * mask / (1.0 - p)
        if not close(out, expected, FORMULA(x.dtype)):
            raise AssertionError(f"instructor dropout_forward disagrees with x * mask / (1 - p) on {name}, p={p}")
    for p in (0.25, 1.0):
        out, mask = forward(refs["fwd_x"].copy(), p, train=False)
        if mask is not None or not np.array_equal(out, refs["fwd_x"]):
            raise AssertionError(f"instructor dropout_forward is not the identity in eval mode (p={p})")

    # backward on a fixed mask, against torch autograd of x * mask / (1 - p)
    for suffix, shape, p, dtype in (("", (4, 6), 0.25, np.float64), ("32", (3, 5), 0.6, np.float32)):
        dout = _no_zero_input(rng, shape, dtype)
        mask = rng.random(shape) >= p
        mask.flat[0], mask.flat[1] = True, False  # both kinds present, whatever the draw
        dx = np.asarray(backward(dout.copy(), mask.copy(), p))
        xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        (xt * torch.from_numpy(mask) / (1.0 - p)).backward(torch.from_numpy(dout.astype(np.float64)))
        if not close(dx, xt.grad.numpy(), FORMULA(dtype)):
            raise AssertionError(f"instructor dropout_backward disagrees with torch autograd ({dtype.__name__})")
        refs.update({f"bwd_dout{suffix}": dout, f"bwd_mask{suffix}": mask, f"bwd_p{suffix}": np.array(p),
                     f"bwd_dx{suffix}": xt.grad.numpy().astype(dtype)})
    for p in (0.25, 1.0):
        if not np.array_equal(backward(refs["bwd_dout"], None, p), refs["bwd_dout"]):
            raise AssertionError(f"instructor dropout_backward(mask=None, p={p}) is not dout")

    # the module: formula on the zero pattern, and torch.nn.Dropout's eval identity, in float32 (2-D)
    # and float64 (4-D)
    refs["mod_x"] = _no_zero_input(rng, (40, 50), np.float32)
    refs["mod_dout"] = _no_zero_input(rng, (40, 50), np.float32)
    refs["mod_p"] = np.array(0.25)
    refs["mod_x64"] = _no_zero_input(rng, (2, 3, 4, 5), np.float64)
    refs["mod_dout64"] = _no_zero_input(rng, (2, 3, 4, 5), np.float64)
    for name in ("", "64"):
        x_np, dout_np = refs[f"mod_x{name}"], refs[f"mod_dout{name}"]
        m = module_cls(p=0.25)
        xt = torch.from_numpy(x_np.copy()).requires_grad_(True)
        torch.manual_seed(0)
        out = m(xt)
        out.backward(torch.from_numpy(dout_np))
        keep = out.detach().numpy() != 0
        if out.dtype != xt.dtype:
            raise AssertionError(f"instructor Dropout changes the dtype {xt.dtype} to {out.dtype}")
        if not close(out.detach().numpy(), np.where(keep, x_np / 0.75, 0), FORMULA(x_np.dtype)):
            raise AssertionError("instructor Dropout disagrees with x * mask / (1 - p)")
        if not close(xt.grad.numpy(), np.where(keep, dout_np / 0.75, 0), FORMULA(x_np.dtype)):
            raise AssertionError("instructor Dropout's gradient disagrees with dout * mask / (1 - p)")
        m.eval()
        x = torch.from_numpy(x_np)
        if not torch.equal(m(x), torch.nn.Dropout(0.25).eval()(x)):
            raise AssertionError("instructor Dropout in eval mode differs from torch.nn.Dropout")
        m1 = module_cls(p=1.0)
        if not torch.equal(m1(x), torch.nn.Dropout(1.0)(x)):
            raise AssertionError("instructor Dropout(p=1) differs from torch.nn.Dropout(p=1)")
    return refs


PARTS = table(
    Part("dropout_forward", CHAPTER, visible_dropout_forward, hidden_dropout_forward, MISTAKES, FORBIDDEN_NAMES),
    Part("dropout_backward", CHAPTER, visible_dropout_backward, hidden_dropout_backward, MISTAKES, FORBIDDEN_NAMES),
    Part("Dropout", CHAPTER, visible_Dropout, hidden_Dropout, MISTAKES, FORBIDDEN_NAMES),
)
