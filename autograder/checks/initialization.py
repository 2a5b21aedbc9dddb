"""Checks of chapter 04 (initialization): fan_in_and_fan_out, xavier_uniform_bound, he_uniform_bound.

Everything here talks to the student's code through `impl` (see adapter.py), so the same checks
run in a notebook's self-check and, in the grading command, against a sandboxed worker.

The oracle is PyTorch itself: `torch.nn.init._calculate_fan_in_and_fan_out` for the fans, and
for the bounds the tensors that `torch.nn.init.xavier_uniform_` and `kaiming_uniform_` actually
fill. Two comparisons with those tensors:
- the same generator seed: `w.uniform_(-a, a)` with the student's bound `a` must reproduce
  torch's init value for value (it draws exactly the same uniforms and scales them by `a`);
- statistics of a large fresh fill: the largest |w| must lie just below `a` (the maximum of n
  uniform draws falls below a * (1 - 20 / n) with probability e^-20, about 2e-9) and the sample
  variance must be a^2 / 3 within 6 standard deviations of a sample variance (for U(-a, a) the
  relative standard deviation is sqrt(4/5) / sqrt(n)).
Shapes are given as tuples and as lists (the notebook allows any sequence of ints; a torch.Size
is a tuple, and crosses the wire to the sandboxed worker as one), of 2 to 6 dimensions, square
and non-square kernels; fewer than 2 dimensions, () included, must raise ValueError. Any number
type is accepted back (int, float, NumPy or 0-d torch scalars): ints where a float is expected
are fine. The bounds are called with and without their gain, positionally and by keyword, and
compared with torch.nn.init called with and without its own defaults. The visible checks make
every kind of call the hidden ones make (tests/test_checks_initialization.py checks this).
Values are compared with a relative tolerance of 1e-6, so a bound computed in float32 passes and
every wrong formula fails.
"""
from __future__ import annotations

import math

import numpy as np

from autograder.checks import mistakes
from autograder.checks.adapter import CheckFailed, StudentError
from autograder.checks.calling import error_of, expect_error, raised
from autograder.checks.closeness import Tolerance, close
from autograder.checks.formatting import number
from autograder.checks.part import Part, table
from autograder.checks.seeds import fresh_seed
from dlcourse import course

CHAPTER = course.checked_by(__name__).name  # the chapter dlcourse.course says this module grades
# The library routes the exercise forbids: a solution must compute fans and bounds itself. The
# grader scans each solution cell's source for these names (autograder/forbidden.py), besides the
# indirect routes (getattr, __import__, ...) it always flags. "init" itself is NOT in the list:
# the scan flags a bare name wherever it appears, so an honest local variable called `init`
# would fail, and every route through torch.nn.init to a fan or a bound needs one of the names
# below anyway (`from torch.nn import init` alone computes nothing).
FORBIDDEN_NAMES = frozenset({"_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "xavier_uniform_",
                             "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "calculate_gain"})
RTOL = 1e-6
FORMULA = Tolerance(rtol=RTOL)  # relative: a bound computed in float32 passes, every wrong formula fails
REFERENCE = Tolerance(rtol=1e-12, atol=1e-15)  # the instructor's bounds, in float64, reproduce torch's fill
SIGMAS = 6.0
MAX_BELOW = 20.0  # the largest of n draws lies within a * (1 - MAX_BELOW / n) of a, but for e^-20
RELU_GAIN = math.sqrt(2.0)

# Every diagnosis of the chapter (and the shared ones, mistakes.SHARED). A failure reads
# "<the call and what it returned>: <message>" where the message does not name the call itself.
MISTAKES = mistakes.table(
    # what came back
    not_a_number="{what} returned {value!r}: return a number",
    array_returned="{what} returned an array of shape {shape}: return a single number",
    not_single_number="{what} returned {kind}: return a single number (the bound a of U(-a, a))",
    # fan_in_and_fan_out
    shape_type_required=("{what} raised {error}: shape can be any sequence of ints: a tuple, a list or a torch.Size "
                         "(weight.shape); index it (shape[0], shape[1], shape[2:]) instead of requiring one type"),
    kernel_dimensions_limited=("{what} raised {error}: a weight can have any number of kernel dimensions, (out, in, "
                               "*kernel): the receptive field is the product of all of them, math.prod(shape[2:])"),
    fans_not_pair="{what} must return a pair (fan_in, fan_out), got {got}",
    fans_not_whole="{what} returned {got}: fans are whole numbers (counts of connections)",
    fans_swapped=("fan_in and fan_out are swapped. PyTorch stores {layer}, so fan_in comes from shape[1] (the inputs "
                  "of each unit) and fan_out from shape[0]; swapped fans would make He initialization scale by "
                  "fan_out"),
    receptive_field_ignored=("the receptive field is ignored. Each output of {layer} sees in_channels * prod(kernel) "
                             "= {in_channels} * {field} inputs: multiply both fans by the product of the kernel "
                             "sizes (shape[2:])"),
    fans_swapped_field_ignored=("fan_in and fan_out are swapped (fan_in comes from shape[1], PyTorch stores "
                                "(out_channels, in_channels, *kernel)) and the receptive field is ignored (multiply "
                                "both by the product of the kernel sizes, shape[2:])"),
    square_kernel=("the kernel is taken as square (one kernel size raised to the number of kernel dimensions), but "
                   "its sizes {sizes} differ; the receptive field is the product of ALL kernel sizes, "
                   "math.prod(shape[2:])"),
    one_kernel_dimension=("only one kernel dimension is counted; the receptive field is the product of ALL kernel "
                          "sizes, shape[2:]"),
    fans_wrong=("{what} returned {got}, expected {expected} for {layer}: fan_in = shape[1] * prod(shape[2:]) and "
                "fan_out = shape[0] * prod(shape[2:])"),
    # the bounds: what they returned, their signatures, their default gains
    bound_not_positive="{what} returned {value}: a bound a of U(-a, a) is a positive, finite number",
    signature_changed="{what} failed: keep the signature {signature} ({what} raised {error})",
    xavier_default_gain=("{what} returned {got}, expected {want}: the default gain is 1.0 "
                         "(torch.nn.init.xavier_uniform_'s default), not sqrt(2)"),
    he_default_gain=("{what} returned {got}, expected {want}: the default gain is sqrt(2), ReLU's gain "
                     "(torch.nn.init.calculate_gain('relu')), not 1"),
    # a wrong bound, matched against what each mistake gives (`mistakes.matching`)
    xavier_normal_std=("that is the standard deviation of Xavier's NORMAL init, sqrt(2 / (fan_in + fan_out)), not the "
                       "uniform bound. U(-a, a) has standard deviation a / sqrt(3), so a = sqrt(3) * std = gain * "
                       "sqrt(6 / (fan_in + fan_out))"),
    xavier_gain_ignored="the gain is ignored (gain = {gain}); the bound is gain * sqrt(6 / (fan_in + fan_out))",
    xavier_gain_inside_root="the gain multiplies the bound, outside the square root: gain * sqrt(6 / (fan_in + fan_out))",
    xavier_gain_twice="the gain is applied twice; the bound is gain * sqrt(6 / (fan_in + fan_out))",
    xavier_one_fan=("it uses one fan only. Xavier (Glorot) averages the two, Var(w) = 2 / (fan_in + fan_out), so "
                    "a = gain * sqrt(6 / (fan_in + fan_out))"),
    xavier_no_root="the square root is missing: a = gain * sqrt(6 / (fan_in + fan_out))",
    he_normal_std=("that is the standard deviation of He's NORMAL init (gain / sqrt(fan_in), sqrt(2 / fan_in) for "
                   "ReLU), not the uniform bound. U(-a, a) has standard deviation a / sqrt(3), so a = sqrt(3) * std "
                   "= gain * sqrt(3 / fan_in)"),
    he_relu_gain_only=("the gain is ignored (gain = {gain}): sqrt(6 / fan_in) is the bound for ReLU's gain sqrt(2) "
                       "only; the bound is gain * sqrt(3 / fan_in)"),
    he_gain_ignored="the gain is ignored (gain = {gain}); the bound is gain * sqrt(3 / fan_in)",
    he_gain_twice=("the gain is counted twice: sqrt(6 / fan_in) = sqrt(2) * sqrt(3 / fan_in) already holds ReLU's "
                   "gain sqrt(2); the bound is gain * sqrt(3 / fan_in)"),
    he_gain_inside_root="the gain multiplies the bound, outside the square root: gain * sqrt(3 / fan_in)",
    he_no_root="the square root is missing: a = gain * sqrt(3 / fan_in)",
    he_fan_out=("the first parameter must be fan_in. He initialization (kaiming_uniform_ with mode='fan_in') "
                "divides by the number of inputs of a unit, fan_in, not by fan_out: it keeps the forward "
                "activations' variance"),
    # a wrong bound no known mistake explains
    xavier_wrong=("{what} returned {got}, expected {want} (fan_in = {fan_in}, fan_out = {fan_out}, gain = {gain}): "
                  "the Xavier uniform bound is a = gain * sqrt(6 / (fan_in + fan_out))"),
    he_wrong=("{what} returned {got}, expected {want} (fan_in = {fan_in}, gain = {gain}): the He (Kaiming) uniform "
              "bound is a = gain * sqrt(3 / fan_in)"),
    # the comparison with torch.nn.init's own fill (only when no known mistake explains the bound)
    torch_fill_differs="with the same generator, uniform_(-a, a) with your a = {a} does not reproduce {call}",
    torch_fill_above="{call} draws values up to |w| = {largest}, above your bound a = {a}",
    torch_fill_below="none of the {n} values of {call} comes near your bound a = {a}: your a is too large",
    torch_fill_variance="the variance of {call}'s values is {ratio} times a^2 / 3 for your a = {a}",
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _as_number(value, what: str) -> float:
    """A real number from whatever the student returned (int, float, NumPy or 0-d tensor)."""
    if isinstance(value, bool) or value is None:
        raise MISTAKES["not_a_number"].failure(what=what, value=value)
    if isinstance(value, int):
        return float(int.__int__(value))
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        if value.size != 1:
            raise MISTAKES["array_returned"].failure(what=what, shape=value.shape)
        return float(value.reshape(()).item())
    kind = "a tuple" if isinstance(value, tuple) else f"a {type(value).__name__}"
    raise MISTAKES["not_single_number"].failure(what=what, kind=kind)


def _close(got: float, want: float) -> bool:
    return close(got, want, FORMULA)


def _torch_fans(shape) -> tuple[int, int]:
    """PyTorch's own fans for a weight of this shape (a meta tensor: no memory is allocated)."""
    import torch

    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(tuple(shape), device="meta"))


def _formula_fans(shape) -> tuple[int, int]:
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _layer(shape) -> str:
    if len(shape) == 2:
        return "an nn.Linear weight (out_features, in_features)"
    if len(shape) <= 5:
        return f"a Conv{len(shape) - 2}d weight (out_channels, in_channels, *kernel)"
    return "a weight (out, in, *kernel)"


def _uniform_like_torch(shape, bound: float, seed: int):
    """`torch.empty(shape).uniform_(-bound, bound)` from a generator seeded with `seed` (float64)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.empty(shape, dtype=torch.float64).uniform_(-bound, bound, generator=generator)


def _torch_init(kind: str, shape, seed: int, **kwargs):
    """torch.nn.init.<kind>(a float64 tensor of `shape`, **kwargs) from a generator seeded with `seed`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    weight = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, kind)(weight, generator=generator, **kwargs)
    return weight


# --------------------------------------------------------------------------------------------
# fan_in_and_fan_out
# --------------------------------------------------------------------------------------------
def _fans(impl, shape, as_list: bool = False) -> tuple:
    """(fan_in, fan_out) as ints from the student's function, called with a tuple (or a list)."""
    shape = [int(s) for s in shape] if as_list else tuple(int(s) for s in shape)
    what = f"fan_in_and_fan_out({shape})"
    try:
        result, _ = impl.call("fan_in_and_fan_out", shape)
    except StudentError as error:
        if as_list and not error.is_a("NotImplementedError"):
            raise MISTAKES["shape_type_required"].failure(what=what, error=error) from None
        if len(shape) > 5 and not error.is_a("NotImplementedError"):
            raise MISTAKES["kernel_dimensions_limited"].failure(what=what, error=error) from None
        raise raised(error, what, "fan_in_and_fan_out") from None
    if isinstance(result, np.ndarray) and result.shape == (2,):
        result = tuple(result)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = type(result).__name__ if not isinstance(result, np.ndarray) else f"an array of shape {result.shape}"
        raise MISTAKES["fans_not_pair"].failure(what=what, got=got)
    got = tuple(_as_number(v, what) for v in result)
    if not all(math.isfinite(v) and v == int(v) for v in got):
        raise MISTAKES["fans_not_whole"].failure(what=what, got=got)
    return tuple(int(v) for v in got), what



def _check_fans(impl, shape, expected, as_list: bool = False) -> None:
    """The student's fans of `shape` are `expected`; otherwise name the likely mistake."""
    shape = tuple(int(s) for s in shape)
    expected = tuple(int(v) for v in expected)
    got, what = _fans(impl, shape, as_list)
    if got == expected:
        return
    fan_in, fan_out = expected
    out_ch, in_ch = shape[0], shape[1]
    receptive_field = math.prod(shape[2:])
    mine = f"{what} returned {got}, expected {expected}"
    if got == (fan_out, fan_in):
        raise MISTAKES["fans_swapped"].failure(mine, layer=_layer(shape))
    if len(shape) > 2 and got == (in_ch, out_ch):
        raise MISTAKES["receptive_field_ignored"].failure(mine, layer=_layer(shape), in_channels=in_ch,
                                                          field=receptive_field)
    if len(shape) > 2 and got == (out_ch, in_ch):
        raise MISTAKES["fans_swapped_field_ignored"].failure(mine)
    square = [k ** (len(shape) - 2) for k in (shape[2], shape[-1])] if len(shape) > 3 else []
    if any(got == (in_ch * field, out_ch * field) for field in square):
        raise MISTAKES["square_kernel"].failure(mine, sizes=shape[2:])
    if len(shape) > 3 and got in ((in_ch * shape[2], out_ch * shape[2]), (in_ch * shape[-1], out_ch * shape[-1])):
        raise MISTAKES["one_kernel_dimension"].failure(mine)
    raise MISTAKES["fans_wrong"].failure(what=what, got=got, expected=expected, layer=_layer(shape))


def _check_fans_value_error(impl, shape) -> None:
    """`shape` has fewer than 2 dimensions: the student's function must raise ValueError."""
    expect_error("ValueError", "fan_in_and_fan_out", f"fan_in_and_fan_out({shape!r})",
                 "fans need a weight with at least 2 dimensions (like torch.nn.init), and that includes the empty shape ()",
                 impl.call, "fan_in_and_fan_out", shape)


def _distinct_kernel(rng: np.random.Generator, dims: int, low: int = 2, high: int = 7) -> tuple[int, ...]:
    """`dims` different kernel sizes in [low, high]: a non-square kernel, whose product differs from
    any one size raised to `dims` and (all sizes being >= 2) from their sum."""
    return tuple(int(k) for k in rng.choice(np.arange(low, high + 1), size=dims, replace=False))


def _fresh_shapes(rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Fresh weight shapes of 2 to 6 dimensions: Linear (wide, tall, tiny, square-free), Conv1d to
    Conv3d, pointwise, big, and kernels of different sizes in every dimension count from 2 on."""
    def n(low, high):
        return int(rng.integers(low, high + 1))

    out, inp = n(2, 4096), n(2, 4096)
    while inp == out:
        inp = n(2, 4096)
    shapes = [
        (out, inp),                                   # Linear, large
        (n(2, 64), n(65, 1024)),                      # Linear, wider than tall
        (n(65, 1024), n(2, 64)),                      # Linear, taller than wide
        (1, n(2, 50)), (n(2, 50), 1), (1, 1),         # Linear, tiny
        (n(2, 128), n(2, 128), n(2, 9)),              # Conv1d
        (n(2, 256), n(2, 256), n(2, 7), n(2, 7)),     # Conv2d, possibly square kernel
        (n(2, 64), n(2, 64), n(2, 3), n(3, 5), n(1, 2)),  # Conv3d
        (n(2, 512), n(2, 512), 1, 1),                 # pointwise Conv2d
        (n(1024, 4096), n(1024, 4096), 3, 3),         # a big Conv2d
        (n(2, 8), n(2, 8), n(2, 3), n(2, 3), n(2, 3), n(2, 3)),  # more kernel dimensions
    ]
    # kernels whose sizes all differ, whatever the draw: every kernel-counting mistake shows
    for dims in (2, 3, 4):
        shapes.append((n(2, 32), n(2, 32)) + _distinct_kernel(rng, dims, high=6))
    return shapes


def visible_fan_in_and_fan_out(impl, ref) -> None:
    """Fans against the references; shapes as tuples and lists; ValueError below 2 dimensions, the empty shape included."""
    shapes = [(ref[f"fan_shape_{i}"], ref[f"fan_expected_{i}"]) for i in range(int(ref["fan_count"]))]
    for shape, expected in shapes:
        _check_fans(impl, shape, expected)
    for shape, expected in shapes:
        _check_fans(impl, shape, expected, as_list=True)
    for shape in FAN_ERROR_SHAPES:
        _check_fans_value_error(impl, shape)


def hidden_fan_in_and_fan_out(impl, rng: np.random.Generator) -> None:
    """Fans of fresh shapes against torch's own; tuples and lists; ValueError below 2 dimensions."""
    shapes = _fresh_shapes(rng)
    for shape in shapes:
        expected = _torch_fans(shape)
        if expected != _formula_fans(shape):  # the checker's own sanity: torch is the oracle
            raise RuntimeError(f"torch's fans {expected} differ from the formula for {shape}")
        _check_fans(impl, shape, expected)
    for shape in shapes[::4]:
        _check_fans(impl, shape, _torch_fans(shape), as_list=True)
    # Linear weights are (out, in): every non-square one tells fan_in from fan_out
    for _ in range(5):
        shape = (int(rng.integers(1, 300)), int(rng.integers(300, 2000)))
        shape = shape[::-1] if rng.random() < 0.5 else shape
        _check_fans(impl, shape, _torch_fans(shape))
    for shape in ((int(rng.integers(1, 100)),), (), [int(rng.integers(1, 100))]):
        _check_fans_value_error(impl, shape)


# --------------------------------------------------------------------------------------------
# the bounds
# --------------------------------------------------------------------------------------------
def _call_bound(impl, name: str, what: str, *args, **kwargs) -> float:
    try:
        result, _ = impl.call(name, *args, **kwargs)
    except StudentError as error:
        raise raised(error, what, name) from None
    return _bound_value(result, what)


def _bound_value(result, what: str) -> float:
    """The bound the student's function returned: a positive, finite number."""
    value = _as_number(result, what)
    if not math.isfinite(value) or value <= 0:
        raise MISTAKES["bound_not_positive"].failure(what=what, value=number(value))
    return value


def _xavier_formula(fan_in, fan_out, gain=1.0) -> float:
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def _he_formula(fan_in, gain=RELU_GAIN) -> float:
    return gain * math.sqrt(3.0 / fan_in)




def _xavier_candidates(fan_in: int, fan_out: int, gain: float) -> list[tuple[str, float]]:
    """(mistake key, the bound that mistake gives), in the order they are tried."""
    total = fan_in + fan_out
    candidates = [("xavier_normal_std", gain * math.sqrt(2.0 / total)), ("xavier_normal_std", math.sqrt(2.0 / total))]
    if gain != 1.0:
        candidates += [("xavier_gain_ignored", math.sqrt(6.0 / total)),
                       ("xavier_gain_inside_root", math.sqrt(6.0 * gain / total)),
                       ("xavier_gain_twice", gain * gain * math.sqrt(6.0 / total))]
    if fan_in != fan_out:
        candidates += [("xavier_one_fan", gain * math.sqrt(c / f)) for c in (3.0, 6.0) for f in (fan_in, fan_out)]
    return candidates + [("xavier_no_root", gain * 6.0 / total)]


def _he_candidates(fan_in: int, gain: float) -> list[tuple[str, float]]:
    """(mistake key, the bound that mistake gives), in the order they are tried."""
    candidates = [("he_normal_std", gain / math.sqrt(fan_in)), ("he_normal_std", math.sqrt(2.0 / fan_in))]
    if not _close(gain, RELU_GAIN):
        candidates.append(("he_relu_gain_only", math.sqrt(6.0 / fan_in)))
    if gain != 1.0:
        candidates.append(("he_gain_ignored", math.sqrt(3.0 / fan_in)))
    candidates.append(("he_gain_twice", gain * math.sqrt(6.0 / fan_in)))
    if gain != 1.0:
        candidates.append(("he_gain_inside_root", math.sqrt(3.0 * gain / fan_in)))
    return candidates + [("he_no_root", gain * 3.0 / fan_in)]


def _diagnose_xavier(got: float, fan_in: int, fan_out: int, gain: float, what: str) -> CheckFailed:
    mine = f"{what} returned {number(got)}"
    mistake = mistakes.matching(got, _xavier_candidates(fan_in, fan_out, gain), MISTAKES, _close)
    if mistake:
        return mistake.failure(mine, gain=number(gain))
    return MISTAKES["xavier_wrong"].failure(what=what, got=number(got), want=number(_xavier_formula(fan_in, fan_out, gain)),
                                           fan_in=fan_in, fan_out=fan_out, gain=number(gain))


def _diagnose_he(got: float, fan_in: int, gain: float, what: str) -> CheckFailed:
    mine = f"{what} returned {number(got)}"
    mistake = mistakes.matching(got, _he_candidates(fan_in, gain), MISTAKES, _close)
    if mistake:
        return mistake.failure(mine, gain=number(gain))
    return MISTAKES["he_wrong"].failure(what=what, got=number(got), want=number(_he_formula(fan_in, gain)),
                                       fan_in=fan_in, gain=number(gain))


def _keyword_call_failed(impl, name: str, error: StudentError, positional: tuple) -> bool:
    """Whether a call by keyword raised TypeError where the same values given positionally do not:
    then the parameters are named differently from the exercise's signature."""
    return error.is_a("TypeError") and error_of(impl.call, name, *positional) is None


def _call_bound_by_keyword(impl, name: str, what: str, positional: tuple, **kwargs) -> float:
    """`name(**kwargs)`, whose values are `positional` in order; a TypeError there names the signature."""
    try:
        result, _ = impl.call(name, **kwargs)
    except StudentError as error:
        if not _keyword_call_failed(impl, name, error, positional):
            raise raised(error, what, name) from None
        if name == "he_uniform_bound" and error_of(impl.call, name, fan_in=kwargs["fan_in"]) is not None:
            raise MISTAKES["he_fan_out"].failure(f"{what} failed ({what} raised {error})") from None
        signature = {"xavier_uniform_bound": "xavier_uniform_bound(fan_in, fan_out, gain=1.0)",
                     "he_uniform_bound": "he_uniform_bound(fan_in, gain=math.sqrt(2.0))"}[name]
        raise MISTAKES["signature_changed"].failure(what=what, signature=signature, error=error) from None
    return _bound_value(result, what)


def _xavier(impl, fan_in, fan_out, gain=None, keywords=False) -> tuple[float, str]:
    if keywords:
        kwargs = {"fan_in": fan_in, "fan_out": fan_out} | ({} if gain is None else {"gain": gain})
        what = "xavier_uniform_bound(" + ", ".join(f"{k}={number(v)}" for k, v in kwargs.items()) + ")"
        positional = tuple(kwargs.values())
        return _call_bound_by_keyword(impl, "xavier_uniform_bound", what, positional, **kwargs), what
    args = (fan_in, fan_out) if gain is None else (fan_in, fan_out, gain)
    what = "xavier_uniform_bound(" + ", ".join(number(v) for v in args) + ")"
    return _call_bound(impl, "xavier_uniform_bound", what, *args), what


def _diagnose_xavier_call(got: float, fan_in: int, fan_out: int, gain, what: str) -> CheckFailed:
    """The diagnosis of a wrong Xavier bound; `gain=None` means the call relied on the default gain."""
    if gain is None and _close(got, _xavier_formula(fan_in, fan_out, RELU_GAIN)):
        return MISTAKES["xavier_default_gain"].failure(what=what, got=number(got),
                                                       want=number(_xavier_formula(fan_in, fan_out)))
    return _diagnose_xavier(got, fan_in, fan_out, 1.0 if gain is None else gain, what)


def _check_xavier(impl, fan_in, fan_out, gain=None, expected=None, keywords=False) -> None:
    got, what = _xavier(impl, fan_in, fan_out, gain, keywords)
    used_gain = 1.0 if gain is None else gain
    want = _xavier_formula(fan_in, fan_out, used_gain) if expected is None else float(expected)
    if not _close(got, want):
        raise _diagnose_xavier_call(got, fan_in, fan_out, gain, what)


def _he(impl, fan_in, gain=None, keywords=False) -> tuple[float, str]:
    if keywords:
        kwargs = {"fan_in": fan_in} | ({} if gain is None else {"gain": gain})
        what = "he_uniform_bound(" + ", ".join(f"{k}={number(v)}" for k, v in kwargs.items()) + ")"
        positional = tuple(kwargs.values())
        return _call_bound_by_keyword(impl, "he_uniform_bound", what, positional, **kwargs), what
    args = (fan_in,) if gain is None else (fan_in, gain)
    what = "he_uniform_bound(" + ", ".join(number(v) for v in args) + ")"
    return _call_bound(impl, "he_uniform_bound", what, *args), what


def _diagnose_he_call(got: float, fan_in: int, gain, what: str) -> CheckFailed:
    """The diagnosis of a wrong He bound; `gain=None` means the call relied on the default gain."""
    if gain is None and _close(got, _he_formula(fan_in, 1.0)):
        return MISTAKES["he_default_gain"].failure(what=what, got=number(got), want=number(_he_formula(fan_in)))
    return _diagnose_he(got, fan_in, RELU_GAIN if gain is None else gain, what)


def _check_he(impl, fan_in, gain=None, expected=None, keywords=False) -> None:
    got, what = _he(impl, fan_in, gain, keywords)
    used_gain = RELU_GAIN if gain is None else gain
    want = _he_formula(fan_in, used_gain) if expected is None else float(expected)
    if not _close(got, want):
        raise _diagnose_he_call(got, fan_in, gain, what)


def _against_torch(bound: float, formula: float, diagnose, shape, seed: int, torch_kind: str,
                   torch_kwargs: dict, what: str) -> None:
    """The student's bound reproduces torch's init with the same generator, and fits its statistics.

    `formula` is the correct bound; `diagnose()` names the student's mistake when theirs differs.
    """

    def fail(detail: str, **values) -> CheckFailed:
        """`detail` (a key of MISTAKES) says what the fill showed: after the diagnosis of the bound, with its key."""
        if _close(bound, formula):  # cannot happen for a correct bound; say what was seen
            return MISTAKES[detail].failure(what, **values)
        failure = diagnose()
        return CheckFailed(f"{failure} ({MISTAKES[detail].text(**values)})", mistake=failure.mistake)

    theirs = _torch_init(torch_kind, shape, seed, **torch_kwargs)
    mine = _uniform_like_torch(shape, bound, seed)
    call = f"torch.nn.init.{torch_kind}(w of shape {tuple(shape)}" + "".join(
        f", {k}={v!r}" if isinstance(v, str) else f", {k}={number(v)}" for k, v in torch_kwargs.items()) + ")"
    if not close(mine.numpy(), theirs.numpy(), Tolerance(rtol=RTOL, atol=RTOL * bound)):
        raise fail("torch_fill_differs", a=number(bound), call=call)
    # statistics of a large fresh fill: max |w| just below a; variance a^2 / 3
    big = _torch_init(torch_kind, shape, seed + 1, **torch_kwargs)
    n = big.numel()
    largest = float(big.abs().max())
    ratio = float(big.var()) / (bound**2 / 3.0)
    if largest > bound * (1 + RTOL):
        raise fail("torch_fill_above", call=call, largest=number(largest), a=number(bound))
    if largest < bound * (1 - MAX_BELOW / n):
        raise fail("torch_fill_below", n=n, call=call, a=number(bound))
    if abs(ratio - 1.0) > SIGMAS * math.sqrt(4.0 / 5.0) / math.sqrt(n) + 1e-9:
        raise fail("torch_fill_variance", call=call, ratio=number(ratio), a=number(bound))


def _torch_stat_shapes(rng: np.random.Generator) -> list[tuple[int, ...]]:
    def n(low, high):
        return int(rng.integers(low, high + 1))

    return [
        (n(200, 600), n(800, 1600)),                   # Linear, fan_in > fan_out
        (n(800, 1600), n(200, 600)),                   # Linear, fan_out > fan_in
        (n(32, 96), n(16, 64), n(3, 5), n(3, 5)),     # Conv2d
        (n(16, 64), n(16, 64), n(3, 7)),              # Conv1d
        (n(4, 16), n(4, 16), 3, 3, 3),                # Conv3d
    ]


def visible_xavier_uniform_bound(impl, ref) -> None:
    """The shipped fans and gains, with and without the default gain, positionally and by keyword."""
    for (fan_in, fan_out), bound in zip(ref["xavier_default_args"], ref["xavier_default_bound"]):
        _check_xavier(impl, int(fan_in), int(fan_out), None, bound)
    for (fan_in, fan_out, gain), bound in zip(ref["xavier_args"], ref["xavier_bound"]):
        _check_xavier(impl, int(fan_in), int(fan_out), float(gain), bound)
    fan_in, fan_out, gain = ref["xavier_args"][-1]
    _check_xavier(impl, int(fan_in), int(fan_out), float(gain), ref["xavier_bound"][-1], keywords=True)
    fan_in, fan_out = ref["xavier_default_args"][0]
    _check_xavier(impl, int(fan_in), int(fan_out), None, ref["xavier_default_bound"][0], keywords=True)


def hidden_xavier_uniform_bound(impl, rng: np.random.Generator) -> None:
    """Against torch.nn.init.xavier_uniform_ (the same draws, the statistics of a large fill) and the formula on fresh fans."""
    import torch

    gains = [1.0, 5.0 / 3.0, RELU_GAIN, float(rng.uniform(0.3, 3.0))]
    # against torch.nn.init.xavier_uniform_: the same draws, and the statistics of a large fill;
    # gain None: both sides use their default gain (torch's is 1)
    for shape, gain in zip(_torch_stat_shapes(rng), [None, 5.0 / 3.0, float(rng.uniform(0.3, 3.0)), RELU_GAIN, 1.0]):
        fan_in, fan_out = _torch_fans(shape)
        bound, what = _xavier(impl, fan_in, fan_out, gain)
        _against_torch(bound, _xavier_formula(fan_in, fan_out, 1.0 if gain is None else gain),
                       lambda: _diagnose_xavier_call(bound, fan_in, fan_out, gain, what),  # noqa: B023 (called in this iteration)
                       shape, fresh_seed(rng), "xavier_uniform_", {} if gain is None else {"gain": gain}, what)
    # exact agreement with the formula on fresh fans, small and large; the default gain; keywords
    for _ in range(12):
        fan_in, fan_out = int(rng.integers(1, 20000)), int(rng.integers(1, 20000))
        gain = gains[int(rng.integers(len(gains)))]
        _check_xavier(impl, fan_in, fan_out, gain)
    for fan_in, fan_out in ((1, 1), (1, 1000), (3, 3), (int(rng.integers(10**5, 10**6)), 7)):
        _check_xavier(impl, fan_in, fan_out)
        _check_xavier(impl, fan_in, fan_out, float(rng.uniform(0.3, 3.0)))
    _check_xavier(impl, int(rng.integers(5, 500)), int(rng.integers(5, 500)), float(rng.uniform(0.3, 3.0)), keywords=True)
    _check_xavier(impl, int(rng.integers(5, 500)), int(rng.integers(5, 500)), keywords=True)
    # the gain PyTorch recommends per nonlinearity, as torch.nn.init.calculate_gain gives it
    for nonlinearity in ("linear", "sigmoid", "tanh", "relu", "selu"):
        fan_in, fan_out = int(rng.integers(10, 3000)), int(rng.integers(10, 3000))
        _check_xavier(impl, fan_in, fan_out, float(torch.nn.init.calculate_gain(nonlinearity)))


def visible_he_uniform_bound(impl, ref) -> None:
    """The shipped fans and gains, with and without the default gain, positionally and by keyword."""
    for fan_in, bound in zip(ref["he_default_fan_in"], ref["he_default_bound"]):
        _check_he(impl, int(fan_in), None, bound)
    for (fan_in, gain), bound in zip(ref["he_args"], ref["he_bound"]):
        _check_he(impl, int(fan_in), float(gain), bound)
    fan_in, gain = ref["he_args"][-1]
    _check_he(impl, int(fan_in), float(gain), ref["he_bound"][-1], keywords=True)
    _check_he(impl, int(ref["he_default_fan_in"][0]), None, ref["he_default_bound"][0], keywords=True)


def hidden_he_uniform_bound(impl, rng: np.random.Generator) -> None:
    """Against torch.nn.init.kaiming_uniform_ (relu, leaky_relu, tanh and linear gains) and the formula on fresh fans."""
    import torch

    # against torch.nn.init.kaiming_uniform_ (mode="fan_in"): relu, leaky_relu, tanh and linear gains
    # ({}, None): torch's defaults (mode="fan_in", nonlinearity="leaky_relu", a=0: gain sqrt(2)) against yours
    settings = [({}, None),
                ({"mode": "fan_in", "nonlinearity": "relu"}, RELU_GAIN),
                ({"mode": "fan_in", "nonlinearity": "leaky_relu", "a": float(rng.uniform(0.01, 0.5))}, "leaky"),
                ({"mode": "fan_in", "nonlinearity": "tanh"}, 5.0 / 3.0),
                ({"mode": "fan_in", "nonlinearity": "linear"}, 1.0)]
    for shape, (kwargs, gain) in zip(_torch_stat_shapes(rng), settings):
        fan_in, _ = _torch_fans(shape)
        if gain == "leaky":
            gain = float(torch.nn.init.calculate_gain("leaky_relu", kwargs["a"]))
        bound, what = _he(impl, fan_in, gain)
        _against_torch(bound, _he_formula(fan_in, RELU_GAIN if gain is None else gain),
                       lambda: _diagnose_he_call(bound, fan_in, gain, what),  # noqa: B023 (called in this iteration)
                       shape, fresh_seed(rng), "kaiming_uniform_", kwargs, what)
    # exact agreement with the formula on fresh fans; the default gain; keywords
    for _ in range(12):
        fan_in = int(rng.integers(1, 50000))
        _check_he(impl, fan_in)
        _check_he(impl, fan_in, float(rng.uniform(0.3, 3.0)))
    for fan_in in (1, 2, 3, int(rng.integers(10**5, 10**6))):
        _check_he(impl, fan_in)
        _check_he(impl, fan_in, 1.0)
    _check_he(impl, int(rng.integers(5, 5000)), keywords=True)
    _check_he(impl, int(rng.integers(5, 5000)), float(rng.uniform(0.3, 3.0)), keywords=True)


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
# Every kind of input the hidden checks use: Linear (wide, tall, tiny), Conv1d to Conv3d, square
# and non-square kernels, pointwise, 6 dimensions; fewer than 2 dimensions raise ValueError
# (a list too: every shape is also given as a list). Gains: 1, above and below 1, ReLU's, tanh's,
# SELU's (3/4), leaky ReLU's with a = 0.2; and every function relying on its default gain.
FAN_SHAPES = [(256, 784), (10, 256), (1, 5), (16, 3, 5, 5), (8, 4, 3), (32, 16, 3, 3, 3), (64, 32, 1, 1), (6, 2, 3, 5),
              (3, 2, 2, 3, 4, 5), (2, 3, 2, 2, 2, 2), (4, 5, 3, 5, 2)]
FAN_ERROR_SHAPES = [(5,), (), [3]]
XAVIER_DEFAULT = [(784, 256), (10, 10), (1, 5)]
XAVIER_GAIN = [(75, 400, 5.0 / 3.0), (128, 64, math.sqrt(2.0)), (3, 3, 1.0), (300, 100, 0.5), (640, 320, 0.75)]
HE_DEFAULT = [784, 75, 6]
HE_GAIN = [(300, 1.0), (256, 5.0 / 3.0), (3, 1.0), (500, math.sqrt(2.0 / (1 + 0.2**2))), (1000, 0.25)]


def _reproduces_torch(bound: float, shape, kind: str, **kwargs) -> bool:

    return close(_uniform_like_torch(shape, bound, 0).numpy(), _torch_init(kind, shape, 0, **kwargs).numpy(),
                 REFERENCE)


def build_references(ns: dict) -> dict[str, np.ndarray]:
    """Inputs and expected outputs of the visible checks, each checked against torch.nn.init."""
    import torch

    fans, xavier, he = ns["fan_in_and_fan_out"], ns["xavier_uniform_bound"], ns["he_uniform_bound"]
    refs: dict[str, np.ndarray] = {"fan_count": np.array(len(FAN_SHAPES))}
    for i, shape in enumerate(FAN_SHAPES):
        got = tuple(int(v) for v in fans(shape))
        if (got != _torch_fans(shape) or got != tuple(int(v) for v in fans(list(shape)))
                or got != tuple(torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)))):
            raise AssertionError(f"instructor fan_in_and_fan_out{shape} = {got} disagrees with torch")
        refs[f"fan_shape_{i}"] = np.array(shape, dtype=np.int64)
        refs[f"fan_expected_{i}"] = np.array(got, dtype=np.int64)
    for shape in FAN_ERROR_SHAPES:
        try:
            fans(shape)
        except ValueError:
            pass
        else:
            raise AssertionError(f"instructor fan_in_and_fan_out{shape} does not raise ValueError")

    def xavier_case(fan_in, fan_out, gain=None):
        bound = float(xavier(fan_in, fan_out) if gain is None else xavier(fan_in, fan_out, gain))
        # a Linear weight (fan_out, fan_in) has exactly these fans; no gain: torch's default gain
        if not _reproduces_torch(bound, (fan_out, fan_in), "xavier_uniform_", **({} if gain is None else {"gain": gain})):
            raise AssertionError(f"instructor xavier_uniform_bound{(fan_in, fan_out, gain)} disagrees with torch")
        return bound

    refs["xavier_default_args"] = np.array(XAVIER_DEFAULT, dtype=np.int64)
    refs["xavier_default_bound"] = np.array([xavier_case(fi, fo) for fi, fo in XAVIER_DEFAULT])
    refs["xavier_args"] = np.array(XAVIER_GAIN, dtype=np.float64)
    refs["xavier_bound"] = np.array([xavier_case(fi, fo, g) for fi, fo, g in XAVIER_GAIN])

    def he_case(fan_in, gain=None):
        bound = float(he(fan_in) if gain is None else he(fan_in, gain))
        if gain is None:  # torch's defaults too: mode="fan_in", nonlinearity="leaky_relu", a=0, i.e. ReLU's gain
            ok = (_reproduces_torch(bound, (7, fan_in), "kaiming_uniform_")
                  and _reproduces_torch(bound, (7, fan_in), "kaiming_uniform_", mode="fan_in", nonlinearity="relu"))
        else:
            # kaiming_uniform_ with nonlinearity="linear" has gain 1; scale for other gains
            ok = _reproduces_torch(bound / gain, (7, fan_in), "kaiming_uniform_", mode="fan_in", nonlinearity="linear")
        if not ok:
            raise AssertionError(f"instructor he_uniform_bound{(fan_in, gain)} disagrees with torch")
        return bound

    refs["he_default_fan_in"] = np.array(HE_DEFAULT, dtype=np.int64)
    refs["he_default_bound"] = np.array([he_case(fi) for fi in HE_DEFAULT])
    refs["he_args"] = np.array(HE_GAIN, dtype=np.float64)
    refs["he_bound"] = np.array([he_case(fi, g) for fi, g in HE_GAIN])
    return refs


PARTS = table(
    Part("fan_in_and_fan_out", CHAPTER, visible_fan_in_and_fan_out, hidden_fan_in_and_fan_out, MISTAKES, FORBIDDEN_NAMES),
    Part("xavier_uniform_bound", CHAPTER, visible_xavier_uniform_bound, hidden_xavier_uniform_bound, MISTAKES,
         FORBIDDEN_NAMES),
    Part("he_uniform_bound", CHAPTER, visible_he_uniform_bound, hidden_he_uniform_bound, MISTAKES, FORBIDDEN_NAMES),
)
