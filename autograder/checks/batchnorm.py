"""Checks of chapter 03, batch normalization: batchnorm_forward, batchnorm_backward, BatchNorm1d, BatchNorm2d.

Conventions checked (COURSE_SPEC.md): normalize with the biased batch variance, update running_var
with the unbiased one, `running = (1 - momentum) * running + momentum * batch`, momentum 0.1,
eps 1e-5 inside the square root.

Visible checks compare small fixed cases with the shipped references (data/reference/03_batchnorm.npz).
Hidden checks draw fresh inputs at grading time and use PyTorch as the oracle. When a value is wrong,
the message names the likely mistake: the checks recompute the value under each common mistake
(with NumPy, from the inputs) and say which one the student's value matches.

The visible and the hidden checks of a part run the same clause checks (`_check_*`), the visible
ones on the shipped cases, the hidden ones on fresh inputs of more shapes. So every clause (each
edge case such as N = 2, N = 1 or one value per channel, the defaults, both dtypes, the errors,
state_dict loading in both directions) is graded on every run, and a self-check that passes has
already met every kind of requirement the hidden tests grade.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from autograder import forbidden
from autograder.checks import mistakes
from autograder.checks.adapter import CheckFailed, StudentError
from autograder.checks.calling import call, expect_error, raised
from autograder.checks.closeness import PerDtype, Tolerance, close
from autograder.checks.formatting import call as call_text
from autograder.checks.gradients import central_difference
from autograder.checks.part import Part, table
from dlcourse import course

CHAPTER = course.checked_by(__name__).name  # the chapter dlcourse.course says this module grades
FORBIDDEN_NAMES = forbidden.NORMALIZATION_NAMES | forbidden.COMPOSITE_NAMES  # the exercise: implement it with elementary tensor operations
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
STATE_KEYS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
DTYPES = ("float32", "float64")

# ---------------------------------------------------------------------------------------------
# Diagnoses: what a wrong value most likely comes from.

OUTPUT_MESSAGES = {
    "unbiased_normalization": "normalized with the unbiased variance (divided by n - 1): normalize with the biased batch "
                "variance (divide by n), as PyTorch does (np.var(x, axis=0), x.var(dim, unbiased=False))",
    "eps_outside_root": "eps outside the square root: divide by sqrt(var + eps), not by sqrt(var) + eps",
    "eps_left_out": "eps left out: divide by sqrt(var + eps)",
    "gamma_beta_swapped": "gamma and beta swapped (weight and bias): out = gamma * x_hat + beta, gamma scales and beta shifts",
    "affine_not_applied": "gamma and beta (weight and bias) not applied: out = gamma * x_hat + beta",
    "wrong_axis": "statistics over the wrong axis: each feature (channel) needs its own mean and variance, "
                  "taken over the batch axis N (and L, or H and W); for (N, C, H, W) move C last before "
                  "reshaping to (-1, C), or reduce over dims (0, 2, 3)",
    "eps_ignored": "the eps you were given is ignored (the default 1e-5 was used)",
    "train_uses_running_stats": "train mode normalized with the running statistics: in train mode use the batch mean and variance",
}
RUNNING_MESSAGES = {
    "biased_running_var": "running_var equals the biased estimate; PyTorch updates it with the unbiased one "
              "(batch variance * n / (n - 1))",
    "momentum_inverted": "momentum inverted: PyTorch's rule is running = (1 - momentum) * running + momentum * batch, "
                "so momentum=0.1 gives the NEW batch a weight of 0.1 (Keras's momentum weights the old value)",
    "running_not_updated": "running statistics not updated in train mode: running = (1 - momentum) * running + momentum * batch",
    "unbiased_wrong_count": "the unbiased correction uses the wrong count: n is the number of values per channel, "
               "N * L (or N * H * W), not the batch size N",
    "momentum_ignored": "the momentum you were given is ignored (the default 0.1 was used)",
    "running_replaced": "running statistics replaced by the batch statistics: blend them, "
                "running = (1 - momentum) * running + momentum * batch",
}
EVAL_MESSAGES = {
    "eval_uses_batch_stats": "batch statistics used in eval: in eval mode normalize with running_mean and running_var",
    "eval_eps_outside_root": "eps outside the square root in eval mode: divide by sqrt(running_var + eps)",
    "eval_gamma_beta_swapped": "gamma and beta swapped (weight and bias) in eval mode: out = gamma * x_hat + beta",
    "eval_affine_not_applied": "gamma and beta (weight and bias) not applied in eval mode",
    "eval_std_as_var": "running_var used as a standard deviation: divide by sqrt(running_var + eps)",
    "eval_eps_ignored": "the eps you were given is ignored in eval mode (the default 1e-5 was used): "
                   "divide by sqrt(running_var + eps)",
}
GRADIENT_MESSAGES = {
    "dgamma_dbeta_swapped": "dgamma and dbeta swapped: dbeta = dout.sum(axis=0), dgamma = (dout * x_hat).sum(axis=0)",
    "dgamma_uses_x": "dgamma uses x instead of the normalized x_hat: dgamma = (dout * x_hat).sum(axis=0)",
    "naive_backward": ("dx ignores that the batch mean and variance depend on x (the naive backward, treating mean "
                       "and var as constants): add the gradient paths through them"),
}
# The other diagnoses: the form of what came back, the errors, the module's structure and state.
FORM_MESSAGES = {
    "not_an_array": "expected an array, got {got}",
    "shape_wrong": "shape {shape}, expected {expected}",
    "not_finite": "contains NaN or inf",
    "values_wrong": "wrong values (largest absolute error {error:.3g})",
    "forward_not_pair": "must return a pair (out, cache), got {got}",
    "backward_not_triple": "batchnorm_backward must return a triple (dx, dgamma, dbeta)",
    "input_changed_in_place": ("changed its input {name} in place: compute new arrays instead (a = a - b makes a new "
                               "array, a -= b overwrites the caller's)"),
    "bn_param_defaults_missing": ("{what} raised {error}: bn_param may lack eps, momentum, running_mean and "
                                  "running_var; read them with bn_param.get(key, default) (defaults 1e-5, 0.1, zeros "
                                  "and ones)"),
    "rejects_valid_call": ("{what} raised {error}, but this call is valid: a ValueError is only for N < 2 in train "
                           "mode or an unknown mode (N = {n} here)"),
    "running_not_written": "train mode must write running_mean and running_var into bn_param",
    "running_updated_in_eval": ("running statistics updated in eval mode (bn_param[{key!r}] changed): eval mode must "
                                "use them and change nothing"),
    "bn_param_key_removed": "eval mode removed bn_param[{key!r}]: it must change nothing",
    "forward_wrong_first": ("batchnorm_forward's train-mode output is wrong, so its cache is too: fix "
                            "batchnorm_forward first (its self-check names the mistake)"),
    "gradient_not_numeric": ("{name} disagrees with a numeric central-difference gradient of your batchnorm_forward "
                             "(relative error {error:.2g})"),
    "naive_backward_numeric": ("{name} disagrees with a numeric central-difference gradient of your "
                               "batchnorm_forward (relative error {error:.2g}) (it matches the naive backward that "
                               "treats mean and var as constants)"),
    "statistics_as_parameters": ("{names} registered as nn.Parameter: the optimizer would train them; statistics "
                                 "must be buffers (self.register_buffer)"),
    "parameters_wrong": "parameters are {names}; expected exactly weight and bias (nn.Parameter)",
    "statistics_not_buffers": ("{names} not a buffer: statistics as plain tensors are not saved in state_dict and do "
                               "not move with .to(); use self.register_buffer(name, tensor)"),
    "state_dict_keys_wrong": "state_dict keys {keys}; torch's are {expected}",
    "initial_value_wrong": "a new module's {name} must be {kind} of shape {shape}, got shape {got}",
    "nbt_initial_wrong": ("num_batches_tracked must start as a 0-dimensional tensor holding 0 "
                          "(torch.tensor(0, dtype=torch.long)), got shape {shape}"),
    "nbt_not_long": ("num_batches_tracked is a {dtype} tensor; torch's counts batches in a torch.long tensor: "
                     "torch.tensor(0, dtype=torch.long)"),
    "counts_examples": ("{what} raised {error}, but each channel has {count} values here, so its variance exists: "
                        "only one value per channel is an error (count the values per channel, N * L or N * H * W, "
                        "not the examples)"),
    "no_parameter_gradient": "no gradient for {name}",
    "nbt_not_counted": "num_batches_tracked is {got}, expected {want}: add 1 per training forward pass",
    "buffer_updates_tracked": ("the backward pass reached the graph of an earlier training step through running_mean "
                               "or running_var: update the buffers inside torch.no_grad() (or on .data), so that "
                               "autograd does not record the update"),
    "eval_without_gradients": ("no gradient flows back in eval mode ({error}); torch's eval mode still gives "
                               "gradients for x, weight and bias: do not compute the output under torch.no_grad() "
                               "or from detached tensors"),
    "buffers_updated_in_eval": ("{name} changed in eval mode: running statistics updated in eval; eval must use them "
                                "and change nothing"),
    "state_dict_key_missing": "state_dict has no {key!r}",
    "state_dict_nbt_wrong": ("state_dict num_batches_tracked is {value} {when}, expected a 0-dimensional count of "
                             "the training steps ({count})"),
    "loaded_state_differs": "after loading torch.nn.{name}'s state_dict, {key} differs",
    "state_dict_unloadable": "torch.nn.{name} cannot load your state_dict ({kind}: {error})",
}
MISTAKES = mistakes.table(**OUTPUT_MESSAGES, **RUNNING_MESSAGES, **EVAL_MESSAGES, **GRADIENT_MESSAGES, **FORM_MESSAGES)
# How closely values must agree with torch's (float64) ones; atol relative to their size.
FORMULA = PerDtype(float32=Tolerance(rtol=2e-4, atol=2e-5, scaled=True),
                   float64=Tolerance(rtol=1e-7, atol=1e-9, scaled=True))
GRADIENT_LOOSENESS = 5.0  # gradients go through more operations than outputs


def _layout(x):
    """Reduction axes (all but the channel axis 1) and the broadcast shape of per-channel values."""
    axes = tuple(i for i in range(x.ndim) if i != 1)
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    return axes, tuple(shape)


def _correct(variants: list[tuple]) -> object:
    """The correct value ("ok") among (key, value) variants."""
    return next(value for key, value in variants if key == "ok")


def _train_variants(x, gamma, beta, eps) -> list[tuple]:
    """(variant, train-mode output) pairs in float64: the correct rule ("ok") and the usual mistakes."""
    x = x.astype(np.float64)
    axes, shape = _layout(x)
    g, b = np.reshape(gamma, shape).astype(np.float64), np.reshape(beta, shape).astype(np.float64)
    n = x.size // x.shape[1]
    mean = x.mean(axis=axes).reshape(shape)
    var = x.var(axis=axes).reshape(shape)
    x_hat = (x - mean) / np.sqrt(var + eps)
    out = [("ok", g * x_hat + b)]
    if n > 1:
        out.append(("unbiased_normalization", g * (x - mean) / np.sqrt(var * n / (n - 1) + eps) + b))
    out.append(("eps_outside_root", g * (x - mean) / (np.sqrt(var) + eps) + b))
    with np.errstate(divide="ignore", invalid="ignore"):
        out.append(("eps_left_out", g * (x - mean) / np.sqrt(var) + b))
    out.append(("gamma_beta_swapped", b * x_hat + g))
    out.append(("affine_not_applied", x_hat))
    out.append(("eps_ignored", g * (x - mean) / np.sqrt(var + 1e-5) + b))
    if x.ndim == 2:  # per-example statistics instead of per-feature
        m1, v1 = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
        out.append(("wrong_axis", g * (x - m1) / np.sqrt(v1 + eps) + b))
    else:  # (N, C, ...) reshaped to (-1, C) without moving C last
        flat = x.reshape(-1, x.shape[1])
        wrong = (flat - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0) + eps)
        out.append(("wrong_axis", (wrong * np.ravel(gamma) + np.ravel(beta)).reshape(x.shape)))
        m2 = x.mean(axis=0, keepdims=True)  # per position, over N only
        out.append(("wrong_axis", g * (x - m2) / np.sqrt(x.var(axis=0, keepdims=True) + eps) + b))
    return out


def _running_variants(x, running_mean, running_var, momentum) -> list[tuple]:
    """(variant, (running_mean, running_var)) pairs after one train step, float64."""
    x = x.astype(np.float64)
    axes, _ = _layout(x)
    n = x.size // x.shape[1]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    unbiased = var * n / (n - 1) if n > 1 else var
    rm, rv = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)

    def blend(m, new_m, new_v):
        return (1 - m) * rm + m * new_m, (1 - m) * rv + m * new_v

    out = [("ok", blend(momentum, mean, unbiased)),
           ("biased_running_var", blend(momentum, mean, var)),
           ("momentum_inverted", blend(1 - momentum, mean, unbiased)),
           ("running_not_updated", (rm, rv)),
           ("momentum_ignored", blend(0.1, mean, unbiased)),
           ("running_replaced", (mean, unbiased))]
    if x.ndim > 2 and x.shape[0] > 1:
        out.append(("unbiased_wrong_count", blend(momentum, mean, var * x.shape[0] / (x.shape[0] - 1))))
    return out


def _eval_variants(x, gamma, beta, running_mean, running_var, eps) -> list[tuple]:
    """(variant, eval-mode output) pairs in float64: the correct rule ("ok") and the usual mistakes."""
    x = x.astype(np.float64)
    _, shape = _layout(x)
    g, b = np.reshape(gamma, shape).astype(np.float64), np.reshape(beta, shape).astype(np.float64)
    rm = np.reshape(running_mean, shape).astype(np.float64)
    rv = np.reshape(running_var, shape).astype(np.float64)
    x_hat = (x - rm) / np.sqrt(rv + eps)
    out = [("ok", g * x_hat + b),
           ("eval_eps_outside_root", g * (x - rm) / (np.sqrt(rv) + eps) + b),
           ("eval_gamma_beta_swapped", b * x_hat + g),
           ("eval_affine_not_applied", x_hat),
           ("eval_std_as_var", g * (x - rm) / (rv + eps) + b),
           ("eval_eps_ignored", g * (x - rm) / np.sqrt(rv + 1e-5) + b)]
    axes, _ = _layout(x)
    n = x.size // x.shape[1]
    if n > 1:
        out.append(("eval_uses_batch_stats", _correct(_train_variants(x, gamma, beta, eps))))
    return out


def _close(actual, expected, dtype, loose: float = 1.0) -> bool:
    return close(actual, expected, FORMULA(dtype).looser(loose))


def _compare(what: str, actual, expected, dtype, variants=(), loose: float = 1.0) -> None:
    """Raise CheckFailed naming the likely mistake (of `variants`) when `actual` is not close to `expected`."""
    if not isinstance(actual, np.ndarray) or not np.issubdtype(actual.dtype, np.number):
        raise MISTAKES["not_an_array"].failure(what, got=type(actual).__name__)
    if actual.shape != np.shape(expected):
        raise MISTAKES["shape_wrong"].failure(what, shape=actual.shape, expected=np.shape(expected))
    if _close(actual, expected, dtype, loose):
        return
    if not np.all(np.isfinite(actual)):
        raise MISTAKES["not_finite"].failure(what)
    mistake = mistakes.matching(actual, variants, MISTAKES, lambda a, b: _close(a, b, dtype, loose))
    if mistake:
        raise mistake.failure(what)
    error = float(np.max(np.abs(actual.astype(np.float64) - np.asarray(expected, np.float64))))
    raise MISTAKES["values_wrong"].failure(what, error=error)


def _compare_running(where: str, rm, rv, variants, expected_rm, expected_rv, dtype) -> None:
    ok_m, ok_v = _close(rm, expected_rm, dtype), _close(rv, expected_rv, dtype)
    if ok_m and ok_v:
        return
    mistake = mistakes.matching((rm, rv), variants, MISTAKES,
                                lambda a, b: _close(a[0], b[0], dtype) and _close(a[1], b[1], dtype))
    if mistake is None and ok_m:  # only running_var is wrong
        mistake = mistakes.matching(rv, [(key, v) for key, (_, v) in variants], MISTAKES,
                                    lambda a, b: _close(a, b, dtype))
    if mistake:
        raise mistake.failure(where)
    _compare(f"{where}: running_mean", rm, expected_rm, dtype)
    _compare(f"{where}: running_var", rv, expected_rv, dtype)


# ---------------------------------------------------------------------------------------------
# batchnorm_forward


def _forward_failure(error: StudentError, x, bn_param, what) -> CheckFailed:
    """The CheckFailed for an exception of batchnorm_forward on a valid call, naming the likely cause."""
    if error.is_a("KeyError"):
        return MISTAKES["bn_param_defaults_missing"].failure(what=what, error=error)
    if error.is_a("ValueError"):
        return MISTAKES["rejects_valid_call"].failure(what=what, error=error, n=x.shape[0])
    return raised(error, what, "batchnorm_forward")


def _forward(impl, x, gamma, beta, bn_param, what):
    """Call batchnorm_forward on a valid call; return (out, cache, the arguments after the call)."""
    try:
        result, args_after = impl.call("batchnorm_forward", x, gamma, beta, bn_param)
    except StudentError as error:
        raise _forward_failure(error, x, bn_param, what) from None
    if not isinstance(result, tuple) or len(result) != 2:
        raise MISTAKES["forward_not_pair"].failure(what, got=type(result).__name__)
    out, cache = result
    return out, cache, args_after


def _check_inputs_unchanged(what, names, before, after) -> None:
    """The student's function must not change its input arrays in place (x -= mean changes the caller's x)."""
    for name, old, new in zip(names, before, after):
        if isinstance(new, np.ndarray) and not np.array_equal(new, old):
            raise MISTAKES["input_changed_in_place"].failure(what, name=name)


def _check_forward_train(impl, x, gamma, beta, bn_param, expected_out, expected_rm, expected_rv, what):
    dtype = x.dtype
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    rm0 = bn_param.get("running_mean", np.zeros(x.shape[1]))
    rv0 = bn_param.get("running_var", np.ones(x.shape[1]))
    out, cache, args_after = _forward(impl, x, gamma, beta, dict(bn_param), what)
    _check_inputs_unchanged(what, ("x", "gamma", "beta"), (x, gamma, beta), args_after)
    after = args_after[3]
    train_variants = _train_variants(x, gamma, beta, eps)
    train_variants.append(("train_uses_running_stats", _correct(_eval_variants(x, gamma, beta, rm0, rv0, eps))))
    _compare(f"{what}: out", out, expected_out, dtype, train_variants)
    if not isinstance(after, dict) or "running_mean" not in after or "running_var" not in after:
        raise MISTAKES["running_not_written"].failure(what)
    _compare_running(f"{what}: bn_param after train mode", after["running_mean"], after["running_var"],
                     _running_variants(x, rm0, rv0, momentum), expected_rm, expected_rv, dtype)
    return cache


def _check_forward_eval(impl, x, gamma, beta, bn_param, expected_out, what):
    eps = bn_param.get("eps", 1e-5)
    rm = bn_param.get("running_mean", np.zeros(x.shape[1]))
    rv = bn_param.get("running_var", np.ones(x.shape[1]))
    out, _, args_after = _forward(impl, x, gamma, beta, dict(bn_param), what)
    _check_inputs_unchanged(what, ("x", "gamma", "beta"), (x, gamma, beta), args_after)
    after = args_after[3]
    _compare(f"{what}: out", out, expected_out, x.dtype, _eval_variants(x, gamma, beta, rm, rv, eps))
    defaults = {"running_mean": np.zeros(x.shape[1]), "running_var": np.ones(x.shape[1])}
    for key, value in (after or {}).items():
        before = bn_param.get(key, defaults.get(key))
        if before is None:
            continue  # an extra key of the student's own
        same = (value == before) if isinstance(before, str) or np.isscalar(before) else (
            isinstance(value, np.ndarray) and value.shape == np.shape(before) and np.array_equal(value, before))
        if not np.all(same):
            raise MISTAKES["running_updated_in_eval"].failure(what, key=key)
    for key in bn_param:
        if key not in (after or {}):
            raise MISTAKES["bn_param_key_removed"].failure(what, key=key)


FORWARD_CASES = ("a", "b", "n2")            # visible train-mode cases: fwd_<case>_... in the references
FORWARD_EVAL_CASES = ("eval", "evaleps", "evaln1")  # visible eval-mode cases


def _forward_what(x, bn_param) -> str:
    """How a call is named in a diagnosis: mode, shape, dtype and what bn_param holds."""
    return f"batchnorm_forward ({bn_param['mode']}, x of shape {x.shape}, {x.dtype}{_bn_param_text(bn_param)})"


def _check_forward_errors(impl, x1, gamma, beta) -> None:
    """N = 1 in train mode and an unknown mode raise ValueError; x1 has a single row."""
    expect_error("ValueError", "batchnorm_forward", "batchnorm_forward with N = 1 in train mode",
                 "the batch variance of one example is 0", impl.call, "batchnorm_forward", x1, gamma, beta, {"mode": "train"})
    expect_error("ValueError", "batchnorm_forward", "batchnorm_forward with mode 'test'",
                 "only 'train' and 'eval' are modes", impl.call, "batchnorm_forward", x1, gamma, beta, {"mode": "test"})


def visible_batchnorm_forward(impl, ref) -> None:
    """Every clause once, on the shipped cases (train and eval mode, N = 2, N = 1, the errors)."""
    for case in FORWARD_CASES:
        p = f"fwd_{case}_"
        bn_param = _bn_param_from_refs(ref, p)
        _check_forward_train(impl, ref[p + "x"], ref[p + "gamma"], ref[p + "beta"], bn_param, ref[p + "out"],
                             ref[p + "running_mean_after"], ref[p + "running_var_after"],
                             what=_forward_what(ref[p + "x"], bn_param))
    for case in FORWARD_EVAL_CASES:
        p = f"fwd_{case}_"
        bn_param = _bn_param_from_refs(ref, p)
        _check_forward_eval(impl, ref[p + "x"], ref[p + "gamma"], ref[p + "beta"], bn_param, ref[p + "out"],
                            what=_forward_what(ref[p + "x"], bn_param))
    _check_forward_errors(impl, ref["fwd_evaln1_x"], ref["fwd_evaln1_gamma"], ref["fwd_evaln1_beta"])


def hidden_batchnorm_forward(impl, rng: np.random.Generator) -> None:
    """The visible clauses on fresh inputs of more shapes, both dtypes, torch the oracle."""
    cases = [((2, 1), None, None), ((4, 3), None, None), ((16, 10), 1e-3, 0.3), ((64, 32), None, 0.05),
             ((5, 7), 0.5, None), ((8, 4), 1e-5, 0.1)]
    for dtype in DTYPES:
        for shape, eps, momentum in cases:
            x, gamma, beta = _random_inputs(rng, shape, dtype)
            bn_param = {"mode": "train"}
            if eps is not None:
                bn_param["eps"] = eps
            if momentum is not None:
                bn_param["momentum"] = momentum
            with_running = shape[0] % 2 == 0
            if with_running:
                bn_param["running_mean"] = rng.normal(size=shape[1]).astype(dtype)
                bn_param["running_var"] = rng.uniform(0.5, 2.0, size=shape[1]).astype(dtype)
            out, rm, rv = _torch_functional(x, gamma, beta, bn_param, training=True)
            _check_forward_train(impl, x, gamma, beta, bn_param, out, rm, rv, _forward_what(x, bn_param))
            # eval mode with the statistics the oracle produced (N = 1 for the first case)
            x_eval = (rng.normal(size=(max(1, shape[0] // 2), shape[1])) * 2 + 0.5).astype(dtype)
            eval_param = {"mode": "eval", "running_mean": rm.astype(dtype), "running_var": rv.astype(dtype)}
            if eps is not None:
                eval_param["eps"] = eps
            expected, _, _ = _torch_functional(x_eval, gamma, beta, eval_param, training=False)
            _check_forward_eval(impl, x_eval, gamma, beta, eval_param, expected, _forward_what(x_eval, eval_param))
        for shape in ((3, 4), (1, 4)):  # eval mode with no running statistics given: zeros and ones
            x, gamma, beta = _random_inputs(rng, shape, dtype)
            expected, _, _ = _torch_functional(x, gamma, beta, {"mode": "eval"}, training=False)
            _check_forward_eval(impl, x, gamma, beta, {"mode": "eval"}, expected, _forward_what(x, {"mode": "eval"}))
    _check_forward_errors(impl, *_random_inputs(rng, (1, 3), "float64"))


def _bn_param_from_refs(ref, prefix):
    bn_param = {"mode": str(ref[prefix + "mode"])}
    for key in ("eps", "momentum"):
        if prefix + key in ref:
            bn_param[key] = float(ref[prefix + key])
    for key in ("running_mean", "running_var"):
        if prefix + key in ref:
            bn_param[key] = ref[prefix + key]
    return bn_param


def _bn_param_text(bn_param):
    extras = [f"{k}={bn_param[k]}" for k in ("eps", "momentum") if k in bn_param]
    extras += ["running statistics given" if "running_mean" in bn_param
               else "no running statistics given: zeros and ones"]
    return ", " + ", ".join(extras)


def _random_inputs(rng, shape, dtype):
    """x with per-channel standard deviation exactly in [0.1, 3] (so float32 rounding cannot decide a
    verdict, even for N = 2) and offsets around 0; random gamma of either sign and beta."""
    c = shape[1]
    scale = rng.uniform(0.1, 3.0, size=c)
    offset = rng.normal(0, 1, size=c)
    bshape = [1] * len(shape)
    bshape[1] = c
    z = rng.normal(size=shape)
    axes = tuple(i for i in range(len(shape)) if i != 1)
    if z.size // c > 1:
        z = (z - z.mean(axis=axes, keepdims=True)) / z.std(axis=axes, keepdims=True)
    x = (z * scale.reshape(bshape) + offset.reshape(bshape)).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, size=c).astype(dtype) * rng.choice([-1, 1], size=c).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    return x, gamma, beta


def _torch_functional(x, gamma, beta, bn_param, training):
    """The oracle: torch.nn.functional.batch_norm; returns (out, new running_mean, new running_var)."""
    c = x.shape[1]
    rm = torch.tensor(np.asarray(bn_param.get("running_mean", np.zeros(c)), np.float64))
    rv = torch.tensor(np.asarray(bn_param.get("running_var", np.ones(c)), np.float64))
    out = F.batch_norm(torch.tensor(x, dtype=torch.float64), rm, rv, torch.tensor(gamma, dtype=torch.float64),
                       torch.tensor(beta, dtype=torch.float64), training=training,
                       momentum=bn_param.get("momentum", 0.1), eps=bn_param.get("eps", 1e-5))
    return out.numpy(), rm.numpy(), rv.numpy()


# ---------------------------------------------------------------------------------------------
# batchnorm_backward


def _torch_gradients(x, gamma, beta, dout, eps):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    gt = torch.tensor(gamma, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def _naive_dx(x, gamma, dout, eps):
    var = x.astype(np.float64).var(axis=0)
    return dout * gamma / np.sqrt(var + eps)


def _check_backward(impl, x, gamma, beta, dout, eps, expected, what):
    """expected: (out, dx, dgamma, dbeta) of the train-mode forward with these inputs."""
    dtype = x.dtype
    bn_param = {"mode": "train", "eps": eps}
    out, cache, _ = _forward(impl, x, gamma, beta, bn_param, f"{what}: batchnorm_forward")
    if not _close(out, expected[0], dtype):
        raise MISTAKES["forward_wrong_first"].failure(what)
    result, args_after = call("batchnorm_backward", f"{what}: batchnorm_backward", impl.call, "batchnorm_backward", dout, cache)
    _check_inputs_unchanged(f"{what}: batchnorm_backward", ("dout",), (dout,), args_after)
    if not isinstance(result, tuple) or len(result) != 3:
        raise MISTAKES["backward_not_triple"].failure(what)
    dx, dgamma, dbeta = result
    _compare(f"{what}: dbeta", dbeta, expected[3], dtype, [("dgamma_dbeta_swapped", expected[2])])
    _compare(f"{what}: dgamma", dgamma, expected[2], dtype, [("dgamma_uses_x", (dout * x).sum(axis=0))])
    _compare(f"{what}: dx", dx, expected[1], dtype, [("naive_backward", _naive_dx(x, gamma, dout, eps))],
             loose=GRADIENT_LOOSENESS)


def _numeric_gradient_check(impl, rng):
    """Central differences of sum(out * dout) of the student's own forward vs their backward, float64."""
    x, gamma, beta = _random_inputs(rng, (4, 3), "float64")
    dout = rng.normal(size=x.shape)
    bn_param = {"mode": "train"}
    out, cache, _ = _forward(impl, x, gamma, beta, bn_param, "batchnorm_forward")
    result, _ = call("batchnorm_backward", "batchnorm_backward", impl.call, "batchnorm_backward", dout, cache)
    dx, dgamma, dbeta = result

    def loss(xv, gv, bv):
        o, _, _ = _forward(impl, xv, gv, bv, {"mode": "train"}, "batchnorm_forward")
        return float(np.sum(o * dout))

    arrays = [x, gamma, beta]
    for name, analytic, index in (("dx", dx, 0), ("dgamma", dgamma, 1), ("dbeta", dbeta, 2)):
        def loss_of(value, index=index):
            return loss(*[value if k == index else a for k, a in enumerate(arrays)])

        numeric = central_difference(loss_of, arrays[index].copy())
        error = np.max(np.abs(np.asarray(analytic) - numeric)) / (1e-8 + np.max(np.abs(numeric)))
        if not (np.shape(analytic) == numeric.shape and error < 1e-5):
            naive = name == "dx" and _close(analytic, _naive_dx(x, gamma, dout, 1e-5), "float64", loose=100)
            key = "naive_backward_numeric" if naive else "gradient_not_numeric"
            raise MISTAKES[key].failure("batchnorm_backward", name=name, error=error)


BACKWARD_CASES = ("a", "b", "n2")  # visible cases: bwd_<case>_... in the references


def visible_batchnorm_backward(impl, ref) -> None:
    """The shipped cases: both dtypes, a large eps, N = 2 with D = 1."""
    for case in BACKWARD_CASES:
        p = f"bwd_{case}_"
        x, eps = ref[p + "x"], float(ref[p + "eps"])
        expected = (ref[p + "out"], ref[p + "dx"], ref[p + "dgamma"], ref[p + "dbeta"])
        _check_backward(impl, x, ref[p + "gamma"], ref[p + "beta"], ref[p + "dout"], eps, expected,
                        what=f"batchnorm_backward (x of shape {x.shape}, {x.dtype}, eps={eps})")


def hidden_batchnorm_backward(impl, rng: np.random.Generator) -> None:
    """Fresh inputs of more shapes against torch, and a numeric gradient of the student's own forward."""
    # the cache comes from the student's forward: a wrong forward is reported as such, in float64
    # and with a large eps, where every common forward mistake is far outside the tolerance
    x, gamma, beta = _random_inputs(rng, (6, 4), "float64")
    dout = rng.normal(size=x.shape)
    _check_backward(impl, x, gamma, beta, dout, 0.5, _torch_gradients(x, gamma, beta, dout, 0.5),
                    what="batchnorm_backward (x of shape (6, 4), float64, eps=0.5)")
    for dtype in DTYPES:
        for shape, eps in (((2, 3), 1e-5), ((5, 4), 1e-5), ((32, 16), 1e-3), ((8, 1), 0.5), ((128, 20), 1e-5)):
            x, gamma, beta = _random_inputs(rng, shape, dtype)
            dout = rng.normal(size=shape).astype(dtype)
            expected = _torch_gradients(x, gamma, beta, dout, eps)
            _check_backward(impl, x, gamma, beta, dout, eps, expected,
                            what=f"batchnorm_backward (x of shape {shape}, {dtype}, eps={eps})")
    _numeric_gradient_check(impl, rng)


# ---------------------------------------------------------------------------------------------
# BatchNorm1d and BatchNorm2d


def _new(impl, class_name, *args, **kwargs):
    """A new module of the student's class `class_name`."""
    return call(class_name, call_text(class_name, *args, **kwargs), impl.new_module, class_name, *args, **kwargs)


def _check_structure(impl, class_name, module):
    """A new module: parameters weight (ones) and bias (zeros); buffers running_mean (zeros), running_var (ones) and
    num_batches_tracked (a 0-dimensional long 0); state_dict keys exactly torch's."""
    params = module.parameters()
    buffers = module.buffers()
    in_params = [b for b in BUFFERS if b in params]
    if in_params:
        raise MISTAKES["statistics_as_parameters"].failure(class_name, names=", ".join(in_params))
    if set(params) != {"weight", "bias"}:
        raise MISTAKES["parameters_wrong"].failure(class_name, names=sorted(params))
    missing = [b for b in BUFFERS if b not in buffers]
    if missing:
        raise MISTAKES["statistics_not_buffers"].failure(class_name, names=", ".join(missing))
    keys = set(call(class_name, f"{class_name}.state_dict()", module.state_dict))
    if keys != STATE_KEYS:
        raise MISTAKES["state_dict_keys_wrong"].failure(class_name, keys=sorted(keys), expected=sorted(STATE_KEYS))
    c = params["weight"].shape
    for name, value, expected in (("weight", params["weight"], 1.0), ("bias", params["bias"], 0.0),
                                  ("running_mean", buffers["running_mean"], 0.0),
                                  ("running_var", buffers["running_var"], 1.0)):
        if value.shape != c or not np.all(value == expected):
            raise MISTAKES["initial_value_wrong"].failure(class_name, name=name, kind="ones" if expected else "zeros",
                                                          shape=c, got=value.shape)
    nbt = buffers["num_batches_tracked"]
    if nbt.shape != () or nbt != 0:
        raise MISTAKES["nbt_initial_wrong"].failure(class_name, shape=nbt.shape)
    if nbt.dtype != np.int64:
        raise MISTAKES["nbt_not_long"].failure(class_name, dtype=nbt.dtype)


@dataclass
class ModuleCase:
    """One configuration the module checks train and evaluate: from the references (visible) or fresh (hidden)."""

    class_name: str
    eps: float
    momentum: float
    dtype: str
    weight: np.ndarray  # set before training, like the bias
    bias: np.ndarray

    @property
    def c(self) -> int:
        return int(np.shape(self.weight)[0])

    def kwargs(self) -> dict:
        """The constructor's keyword arguments: none for the defaults, so that the defaults are exercised too."""
        return {} if (self.eps, self.momentum) == (1e-5, 0.1) else {"eps": self.eps, "momentum": self.momentum}


def _new_case_module(impl, case: ModuleCase):
    """A new module of the student's for `case`: checked as created (_check_structure), then moved to its dtype."""
    module = _new(impl, case.class_name, case.c, **case.kwargs())
    _check_structure(impl, case.class_name, module)
    if case.dtype != "float32":
        call(case.class_name, f"{case.class_name}.to({case.dtype})", module.to_dtype, case.dtype)
    return module


def _module_step(impl, class_name, module, x, dout, expected, step, weight, bias, running_before, eps, momentum):
    """One training step of the student's module against `expected` = (out, dx, grads, buffers)."""
    dtype = x.dtype
    where = f"{class_name} (train step {step}, input {x.shape}, {dtype}, eps={eps}, momentum={momentum})"
    try:
        out, dx, grads = module.forward_backward(x, dout)
    except StudentError as error:
        count = x.size // x.shape[1]
        if error.is_a("ValueError") and count >= 2:
            raise MISTAKES["counts_examples"].failure(what=where, error=error, count=count) from None
        raise raised(error, where, class_name) from None
    _compare(f"{where}: output", out, expected[0], dtype, _train_variants(x, weight, bias, eps))
    _compare(f"{where}: gradient of the input", dx, expected[1], dtype, loose=GRADIENT_LOOSENESS)
    for name in ("weight", "bias"):
        if name not in grads:
            raise MISTAKES["no_parameter_gradient"].failure(where, name=name)
        _compare(f"{where}: gradient of {name}", grads[name], expected[2][name], dtype, loose=GRADIENT_LOOSENESS)
    buffers = module.buffers()
    _compare_running(where, buffers.get("running_mean"), buffers.get("running_var"),
                     _running_variants(x, running_before[0], running_before[1], momentum),
                     expected[3]["running_mean"], expected[3]["running_var"], dtype)
    if int(buffers["num_batches_tracked"]) != int(expected[3]["num_batches_tracked"]):
        raise MISTAKES["nbt_not_counted"].failure(where, got=int(buffers["num_batches_tracked"]),
                                                  want=int(expected[3]["num_batches_tracked"]))


def _module_eval(class_name, module, x, dout, expected, weight, bias, running, eps):
    """Eval mode, forward and backward: the output from the running statistics, the gradients of that
    (for x, weight and bias, as torch's eval mode gives them), and no buffer changed.
    `expected` = (out, dx, {"weight": ..., "bias": ...})."""
    where = f"{class_name} (eval, input {x.shape}, {x.dtype})"
    call(class_name, f"{class_name}.eval()", module.set_training, False)
    before = module.buffers()
    try:
        out, dx, grads = module.forward_backward(x, dout)
    except StudentError as error:
        if "backward through the graph a second time" in error.message:
            raise MISTAKES["buffer_updates_tracked"].failure(where) from None
        if "does not require grad" in error.message:
            raise MISTAKES["eval_without_gradients"].failure(where, error=error) from None
        raise raised(error, f"{where}, forward and backward", class_name) from None
    _compare(f"{where}: output", out, expected[0], x.dtype,
             _eval_variants(x, weight, bias, running[0], running[1], eps))
    _compare(f"{where}: gradient of the input (the running statistics are constants here)", dx, expected[1],
             x.dtype, loose=GRADIENT_LOOSENESS)
    for name in ("weight", "bias"):
        if name not in grads:
            raise MISTAKES["no_parameter_gradient"].failure(where, name=name)
        _compare(f"{where}: gradient of {name}", grads[name], expected[2][name], x.dtype, loose=GRADIENT_LOOSENESS)
    after = module.buffers()
    for name in BUFFERS:
        if not np.array_equal(before[name], after[name]):
            raise MISTAKES["buffers_updated_in_eval"].failure(where, name=name)
    call(class_name, f"{class_name}.train()", module.set_training, True)


def _check_state_dict(case: ModuleCase, module, expected: dict, when: str) -> None:
    """module.state_dict() holds the expected values; num_batches_tracked is a 0-dimensional count."""
    name = case.class_name
    state = call(name, f"{name}.state_dict()", module.state_dict)
    for key, value in expected.items():
        if key not in state:
            raise MISTAKES["state_dict_key_missing"].failure(name, key=key)
        if key == "num_batches_tracked":
            if np.shape(state[key]) != () or int(state[key]) != int(value):
                raise MISTAKES["state_dict_nbt_wrong"].failure(name, value=state[key], when=when, count=int(value))
        else:
            _compare(f"{name}: state_dict[{key!r}] {when}", state[key], value, case.dtype)


def _check_loads_state(impl, case: ModuleCase, state: dict, x_eval, expected_eval) -> None:
    """torch's state_dict loads into a new module of the student's, which then gives torch's eval output."""
    name = case.class_name
    student = _new_case_module(impl, case)
    call(name, f"{name}.load_state_dict(torch.nn.{name}'s state_dict)", student.load_state_dict, state)
    loaded = call(name, f"{name}.state_dict()", student.state_dict)
    for key, value in state.items():
        if key not in loaded or np.shape(loaded[key]) != np.shape(value) or not close(loaded[key], value, FORMULA(case.dtype)):
            raise MISTAKES["loaded_state_differs"].failure(name, name=name, key=key)
    call(name, f"{name}.eval()", student.set_training, False)
    out = call(name, f"{name} (eval after loading torch's state_dict)", student.forward, x_eval)
    _compare(f"{name} (eval after loading torch.nn.{name}'s state_dict): output", out, expected_eval, case.dtype)


def _check_torch_loads_state(case: ModuleCase, student, x_eval) -> None:
    """The student's state_dict loads into torch.nn.<class_name>, which then gives the student's eval output."""
    name = case.class_name
    state = call(name, f"{name}.state_dict()", student.state_dict)
    target = _torch_module(name, case.c, case.eps, case.momentum, case.dtype, case.weight, case.bias)
    try:
        target.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    except Exception as error:  # noqa: BLE001 - the student's state_dict is what is wrong
        raise MISTAKES["state_dict_unloadable"].failure(name, name=name, kind=type(error).__name__,
                                                        error=str(error).splitlines()[0][:200]) from None
    call(name, f"{name}.eval()", student.set_training, False)
    out = call(name, f"{name} (eval)", student.forward, x_eval)
    _compare(f"{name}: torch.nn.{name} loaded with your state_dict gives a different eval output: yours",
             out, _torch_eval(target, x_eval), case.dtype)


def _check_case(impl, case: ModuleCase, steps, x_eval, dout_eval, expected_eval) -> None:
    """Train a new module on `steps` [(x, dout, expected)], run it in eval mode on x_eval (expected_eval = (out,
    dx, grads)), check its state_dict, then load torch's state into a new module and the module's state into
    torch's; every value against the expected ones."""
    module = _new_case_module(impl, case)
    call(case.class_name, f"{case.class_name}: setting weight", module.set_parameter, "weight", case.weight)
    call(case.class_name, f"{case.class_name}: setting bias", module.set_parameter, "bias", case.bias)
    running = (np.zeros(case.c), np.ones(case.c))
    for step, (x, dout, expected) in enumerate(steps, start=1):
        _module_step(impl, case.class_name, module, x, dout, expected, step, case.weight, case.bias, running,
                     case.eps, case.momentum)
        running = (expected[3]["running_mean"], expected[3]["running_var"])
    _module_eval(case.class_name, module, x_eval, dout_eval, expected_eval, case.weight, case.bias, running,
                 case.eps)
    final = {"weight": case.weight, "bias": case.bias, **steps[-1][2][3]}
    _check_state_dict(case, module, final, when=f"after {len(steps)} training steps")
    _check_loads_state(impl, case, final, x_eval, expected_eval[0])
    _check_torch_loads_state(case, module, x_eval)


def _check_single_value(impl, class_name, shape) -> None:
    """One value per channel: a ValueError in train mode (torch raises one too); eval mode must work."""
    module = _new(impl, class_name, shape[1])
    x = np.ones(shape, np.float32)
    expect_error("ValueError", class_name, f"{class_name} in train mode on input {shape}",
                 "one value per channel has no variance; torch raises ValueError here too", module.forward, x)
    call(class_name, f"{class_name}.eval()", module.set_training, False)
    out = call(class_name, f"{class_name} in eval mode on input {shape}", module.forward, x)
    _compare(f"{class_name} in eval mode on input {shape} (which must work)", out,
             np.full(shape, 1 / np.sqrt(1 + 1e-5)), "float32")


def _torch_module(class_name, c, eps, momentum, dtype, weight, bias):
    module = getattr(torch.nn, class_name)(c, eps=eps, momentum=momentum).to(getattr(torch, dtype))
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.array(weight)))
        module.bias.copy_(torch.from_numpy(np.array(bias)))
    return module


def _torch_step(module, x, dout):
    """(out, dx, {weight, bias gradients}, {buffer: value after}) of one training step of torch's module."""
    module.train()
    return _torch_forward_backward(module, x, dout)


def _torch_forward_backward(module, x, dout):
    """(out, dx, {weight, bias gradients}, {buffer: value after}) of one forward and backward of torch's
    module, in whichever mode it is."""
    xt = torch.from_numpy(np.array(x)).requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(xt)
    out.backward(torch.from_numpy(np.array(dout)))
    return (out.detach().numpy(), xt.grad.numpy(),
            {"weight": module.weight.grad.numpy().copy(), "bias": module.bias.grad.numpy().copy()},
            {k: v.detach().numpy().copy() for k, v in module.named_buffers()})


def _torch_eval(module, x):
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(np.array(x))).numpy()
    module.train()
    return out


def _torch_eval_step(module, x, dout):
    """(out, dx, {weight, bias gradients}) of torch's module in eval mode; the module is left in train mode."""
    module.eval()
    out, dx, grads, _ = _torch_forward_backward(module, x, dout)
    module.train()
    return out, dx, grads


# The visible module cases (references <class>_<case>_...): eps, momentum and dtype, then each step's input shape.
# Case a has the defaults; c has the smallest valid inputs: 2 values per channel, with N = 2 or N = 1.
MODULE_CASES = {"a": (1e-5, 0.1, "float32"), "b": (0.1, 0.3, "float64"), "c": (1e-5, 0.1, "float64")}
MODULE_STEPS = {"BatchNorm1d": {"a": [(4, 3), (3, 3, 2)], "b": [(2, 3, 4)], "c": [(2, 3), (1, 3, 2)]},
                "BatchNorm2d": {"a": [(2, 3, 2, 2), (3, 3, 1, 2)], "b": [(2, 2, 3, 2)],
                                "c": [(1, 3, 2, 1), (2, 3, 1, 1)]}}
SINGLE_VALUE_SHAPES = {"BatchNorm1d": [(1, 3), (1, 3, 1)], "BatchNorm2d": [(1, 3, 1, 1)]}


def _visible_module(impl, ref, class_name):
    """Every clause once: the shipped cases (steps, eval, state_dict both ways), then one value per channel."""
    for name in MODULE_CASES:
        p = f"{class_name}_{name}_"
        case = ModuleCase(class_name, float(ref[p + "eps"]), float(ref[p + "momentum"]), str(ref[p + "dtype"]),
                          ref[p + "weight"], ref[p + "bias"])
        steps = []
        while p + f"x{len(steps) + 1}" in ref:
            step = len(steps) + 1
            expected = (ref[p + f"out{step}"], ref[p + f"dx{step}"],
                        {"weight": ref[p + f"dweight{step}"], "bias": ref[p + f"dbias{step}"]},
                        {key: ref[p + f"{key}{step}"] for key in BUFFERS})
            steps.append((ref[p + f"x{step}"], ref[p + f"dout{step}"], expected))
        expected_eval = (ref[p + "out_eval"], ref[p + "dx_eval"],
                         {"weight": ref[p + "dweight_eval"], "bias": ref[p + "dbias_eval"]})
        _check_case(impl, case, steps, ref[p + "x_eval"], ref[p + "dout_eval"], expected_eval)
    for shape in SINGLE_VALUE_SHAPES[class_name]:
        _check_single_value(impl, class_name, shape)


def _hidden_module(impl, rng, class_name, configs):
    """The visible clauses on fresh inputs: each (shape, eps, momentum) of `configs` in both dtypes, torch the oracle."""
    for dtype in DTYPES:
        for shape, eps, momentum in configs:
            _, weight, bias = _random_inputs(rng, shape, dtype)
            case = ModuleCase(class_name, eps, momentum, dtype, weight, bias)
            oracle = _torch_module(class_name, case.c, eps, momentum, dtype, weight, bias)
            steps = []
            for _ in range(3):
                x, _, _ = _random_inputs(rng, shape, dtype)
                dout = rng.normal(size=shape).astype(dtype)
                steps.append((x, dout, _torch_step(oracle, x, dout)))
            eval_shape = (max(1, shape[0] // 2),) + shape[1:]
            x_eval, _, _ = _random_inputs(rng, eval_shape, dtype)
            dout_eval = rng.normal(size=eval_shape).astype(dtype)
            _check_case(impl, case, steps, x_eval, dout_eval, _torch_eval_step(oracle, x_eval, dout_eval))
    for shape in SINGLE_VALUE_SHAPES[class_name]:
        _check_single_value(impl, class_name, shape)


# (shape, eps, momentum) of the hidden module checks: (N, C) and (N, C, L) inputs for BatchNorm1d, (N, C, H, W) for 2d
HIDDEN_CONFIGS = {
    "BatchNorm1d": [((4, 3), 1e-5, 0.1), ((16, 8), 1e-3, 0.3), ((2, 5), 1e-5, 0.1), ((4, 3, 5), 1e-5, 0.1),
                    ((8, 6, 7), 0.1, 0.05), ((1, 4, 6), 1e-5, 0.2), ((1, 3, 2), 1e-5, 0.1), ((32, 16), 1e-5, 0.1)],
    "BatchNorm2d": [((2, 3, 4, 4), 1e-5, 0.1), ((8, 4, 3, 5), 1e-3, 0.3), ((1, 2, 3, 3), 1e-5, 0.1),
                    ((4, 6, 2, 2), 0.1, 0.05), ((1, 3, 2, 1), 1e-5, 0.1), ((16, 8, 5, 5), 1e-5, 0.1)],
}


def _module_part(class_name: str) -> Part:
    """BatchNorm1d or BatchNorm2d, against torch.nn's module of the same name."""
    return Part(class_name, CHAPTER, visible=lambda impl, ref: _visible_module(impl, ref, class_name),
                hidden=lambda impl, rng: _hidden_module(impl, rng, class_name, HIDDEN_CONFIGS[class_name]),
                mistakes=MISTAKES, forbidden_names=FORBIDDEN_NAMES)


PARTS = table(
    Part("batchnorm_forward", CHAPTER, visible_batchnorm_forward, hidden_batchnorm_forward, MISTAKES, FORBIDDEN_NAMES),
    Part("batchnorm_backward", CHAPTER, visible_batchnorm_backward, hidden_batchnorm_backward, MISTAKES,
         FORBIDDEN_NAMES),
    _module_part("BatchNorm1d"),
    _module_part("BatchNorm2d"),
)


# ---------------------------------------------------------------------------------------------
# Reference outputs (python -m autograder references)


def _agree(name, actual, expected, dtype):
    if not _close(actual, expected, dtype):
        raise AssertionError(f"reference {name}: the instructor solution disagrees with PyTorch")


def build_references(ns: dict) -> dict[str, np.ndarray]:
    """Fixed small cases run through the instructor solution, every value checked against PyTorch."""
    from autograder.checks.adapter import LocalImplementation

    impl = LocalImplementation(ns)
    rng = np.random.default_rng(20240603)
    refs: dict[str, np.ndarray] = {}

    def forward_case(prefix, shape, dtype, bn_param):
        x, gamma, beta = _random_inputs(rng, shape, dtype)
        x[:, -1] = (x[:, -1] - x[:, -1].mean()) * 0.01  # a feature with a tiny variance: eps matters
        refs.update({prefix + "x": x, prefix + "gamma": gamma, prefix + "beta": beta, prefix + "mode": np.array(bn_param["mode"])})
        for key, value in bn_param.items():
            if key != "mode":
                refs[prefix + key] = np.asarray(value)
        (out, _), args = impl.call("batchnorm_forward", x, gamma, beta, dict(bn_param))
        t_out, t_rm, t_rv = _torch_functional(x, gamma, beta, bn_param, training=bn_param["mode"] == "train")
        _agree(prefix + "out", out, t_out, dtype)
        refs[prefix + "out"] = out
        if bn_param["mode"] == "train":
            _agree(prefix + "running_mean", args[3]["running_mean"], t_rm, dtype)
            _agree(prefix + "running_var", args[3]["running_var"], t_rv, dtype)
            refs[prefix + "running_mean_after"] = args[3]["running_mean"]
            refs[prefix + "running_var_after"] = args[3]["running_var"]

    forward_case("fwd_a_", (6, 4), "float64", {"mode": "train", "running_mean": rng.normal(size=4),
                                                "running_var": rng.uniform(0.5, 2, size=4)})
    forward_case("fwd_b_", (5, 3), "float32", {"mode": "train", "eps": 0.3, "momentum": 0.25})
    forward_case("fwd_n2_", (2, 1), "float64", {"mode": "train"})  # the smallest valid batch, one feature
    forward_case("fwd_eval_", (3, 4), "float64", {"mode": "eval", "running_mean": rng.normal(size=4),
                                                   "running_var": rng.uniform(0.5, 2, size=4)})
    forward_case("fwd_evaleps_", (4, 3), "float32", {"mode": "eval", "eps": 0.3,
                                                      "running_mean": rng.normal(size=3).astype("float32"),
                                                      "running_var": rng.uniform(0.5, 2, size=3).astype("float32")})
    forward_case("fwd_evaln1_", (1, 4), "float64", {"mode": "eval"})  # one example, no running statistics

    for case, shape, dtype, eps in (("a", (6, 4), "float64", 1e-5), ("b", (5, 3), "float32", 0.3),
                                    ("n2", (2, 1), "float64", 1e-5)):
        p = f"bwd_{case}_"
        x, gamma, beta = _random_inputs(rng, shape, dtype)
        dout = rng.normal(size=shape).astype(dtype)
        (out, cache), _ = impl.call("batchnorm_forward", x, gamma, beta, {"mode": "train", "eps": eps})
        (dx, dgamma, dbeta), _ = impl.call("batchnorm_backward", dout, cache)
        t_out, t_dx, t_dgamma, t_dbeta = _torch_gradients(x, gamma, beta, dout, eps)
        for name, mine, theirs in (("out", out, t_out), ("dx", dx, t_dx), ("dgamma", dgamma, t_dgamma), ("dbeta", dbeta, t_dbeta)):
            _agree(p + name, mine, theirs, dtype)
            refs[p + name] = mine
        refs.update({p + "x": x, p + "gamma": gamma, p + "beta": beta, p + "dout": dout, p + "eps": np.array(eps)})

    for class_name, cases in MODULE_STEPS.items():
        for case, steps in cases.items():
            p = f"{class_name}_{case}_"
            eps, momentum, dtype = MODULE_CASES[case]
            c = steps[0][1]
            module = impl.new_module(class_name, c, eps=eps, momentum=momentum)
            module.to_dtype(dtype)
            _, weight, bias = _random_inputs(rng, steps[0], dtype)
            module.set_parameter("weight", weight)
            module.set_parameter("bias", bias)
            oracle = _torch_module(class_name, c, eps, momentum, dtype, weight, bias)
            refs.update({p + "eps": np.array(eps), p + "momentum": np.array(momentum),
                         p + "dtype": np.array(dtype), p + "weight": weight, p + "bias": bias})
            for step, shape in enumerate(steps, start=1):
                x, _, _ = _random_inputs(rng, shape, dtype)
                dout = rng.normal(size=shape).astype(dtype)
                out, dx, grads = module.forward_backward(x, dout)
                t_out, t_dx, t_grads, t_buffers = _torch_step(oracle, x, dout)
                buffers = module.buffers()
                values = {"out": (out, t_out), "dx": (dx, t_dx), "dweight": (grads["weight"], t_grads["weight"]),
                          "dbias": (grads["bias"], t_grads["bias"]),
                          **{key: (buffers[key], t_buffers[key]) for key in BUFFERS}}
                for name, (mine, theirs) in values.items():
                    _agree(f"{p}{name}{step}", mine, theirs, dtype)
                    refs[f"{p}{name}{step}"] = mine
                refs[f"{p}x{step}"], refs[f"{p}dout{step}"] = x, dout
            x_eval, _, _ = _random_inputs(rng, (2,) + steps[0][1:], dtype)
            dout_eval = rng.normal(size=x_eval.shape).astype(dtype)
            module.set_training(False)
            out, dx, grads = module.forward_backward(x_eval, dout_eval)
            t_out, t_dx, t_grads = _torch_eval_step(oracle, x_eval, dout_eval)
            values = {"out_eval": (out, t_out), "dx_eval": (dx, t_dx), "dweight_eval": (grads["weight"], t_grads["weight"]),
                      "dbias_eval": (grads["bias"], t_grads["bias"])}
            for name, (mine, theirs) in values.items():
                _agree(p + name, mine, theirs, dtype)
                refs[p + name] = mine
            refs[p + "x_eval"], refs[p + "dout_eval"] = x_eval, dout_eval
    if impl.forbidden_seen:
        raise AssertionError(f"the instructor solution calls forbidden operations: {impl.forbidden_seen}")
    return refs
