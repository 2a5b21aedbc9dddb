"""Chapter 04's checks give every sample submission the verdict expected.json records.

Each file in tests/submissions/04_initialization/ holds the code of all solution cells
(`# %% <part>` introduces a cell). The correct ones, written in different styles (math, NumPy,
through the standard deviation as torch does, ints and lists), must pass every visible and
hidden check; each mistake_*.py must fail exactly the test cells expected.json names, with a
diagnosis that names the mistake key below, whatever the fresh inputs of the hidden checks. Every
kind of call the hidden checks make (shape type and dimensions, ValueError, default gains,
keywords) the visible checks make too, so a passing self-check leaves no rule unchecked. The statistical comparison with torch.nn.init must
never fail a correct bound and must catch a bound that is off by 1%. The grader's static scan
must flag torch.nn.init shortcuts and no honest solution. The references the visible checks use
must be what `build_references` makes from the instructor solution; a tampered copy is refused.
"""
import json
import math
import shutil

import numpy as np
import pytest

from autograder import forbidden, references
from autograder.checks import CheckFailed, LocalImplementation, forbidden_names, initialization
from dlcourse.course import grade_id_of
from notebook_runner import ROOT
from sample_notebooks import (
    assert_expected_verdicts,
    assert_sample_files_complete,
    execute_variant as namespace_of,
    expected_keys,
    parse_variant,
)

SUBMISSIONS = ROOT / "tests" / "submissions" / initialization.CHAPTER
EXPECTED = json.loads((SUBMISSIONS / "expected.json").read_text())

# The diagnosis each mistake must produce: the key of the known mistake (initialization.MISTAKES,
# the shared ones included) that every failing cell's message names.
KEYWORDS = {
    "mistake_fans_swapped": "fans_swapped",
    "mistake_receptive_field_ignored": "receptive_field_ignored",
    "mistake_no_value_error": "wrong_error_raised",
    "mistake_xavier_normal_std": "xavier_normal_std",
    "mistake_xavier_gain_ignored": "xavier_gain_ignored",
    "mistake_he_normal_std": "he_normal_std",
    "mistake_he_fan_out": "he_fan_out",
    "mistake_he_gain_ignored": "he_relu_gain_only",
    "mistake_he_gain_twice": "he_gain_twice",
    "mistake_shape_must_be_tuple": "shape_type_required",
    "mistake_square_kernel": "square_kernel",
    "mistake_empty_shape_accepted": "wrong_error_raised",
    "mistake_up_to_conv3d": "kernel_dimensions_limited",
}


def test_every_submission_file_has_an_expectation_and_a_keyword():
    assert_sample_files_complete(initialization.CHAPTER, initialization.PARTS, KEYWORDS)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_submission_gets_the_expected_verdicts(stem):
    assert_expected_verdicts(initialization.CHAPTER, stem, initialization.PARTS, KEYWORDS)


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_hidden_verdicts_do_not_depend_on_the_fresh_inputs(stem):
    # a handful of seeds here; the audit ran 200 (see the commit message)
    namespace = namespace_of(SUBMISSIONS / f"{stem}.py")
    for seed in range(3):
        for part, check in initialization.PARTS.items():
            np.random.seed(1000 + seed)  # what the grader does per submission and test
            try:
                check(LocalImplementation(dict(namespace)), True)
                message = key = None
            except CheckFailed as failure:
                message, key = str(failure), failure.mistake
            assert (message is None) == EXPECTED[stem][grade_id_of(part, hidden=True)], (stem, part, seed, message)
            assert message is None or key in expected_keys(KEYWORDS[stem]), (stem, part, seed, key, message)


def _call_kinds(hidden: bool, seeds=(0,)) -> dict[str, set]:
    """{function: kinds of call} the visible or hidden checks make on a correct solution: the shape's
    type and number of dimensions (square or not, for a kernel), or the bound's arguments (which
    positional, which keywords), and what came back (a value or ValueError)."""
    correct = namespace_of(SUBMISSIONS / "correct_math.py")
    kinds = {name: set() for name in initialization.PARTS}

    def recording(name):
        def call(*args, **kwargs):
            if name == "fan_in_and_fan_out":
                shape = args[0]
                kernel = tuple(shape)[2:]
                kind = [type(shape).__name__, len(shape), len(set(kernel)) > 1]
            else:
                kind = [len(args), tuple(sorted(kwargs))]
            try:
                result = correct[name](*args, **kwargs)
            except ValueError:
                kinds[name].add(tuple(kind + ["ValueError"]))
                raise
            kinds[name].add(tuple(kind + ["value"]))
            return result
        return call

    namespace = {name: recording(name) for name in initialization.PARTS}
    for seed in seeds:
        np.random.seed(seed)
        for check in initialization.PARTS.values():
            check(LocalImplementation(namespace), hidden)
    return kinds


def test_the_visible_checks_make_every_kind_of_call_the_hidden_ones_make():
    # every shape type and dimension count, (non-)square kernel, ValueError, positional or keyword
    # argument and default that the hidden tests grade, the self-check already exercises
    visible, hidden = _call_kinds(False), _call_kinds(True, seeds=range(3))
    for name in initialization.PARTS:
        assert hidden[name] <= visible[name], (name, hidden[name] - visible[name])
    assert {k[:2] for k in visible["fan_in_and_fan_out"]} >= {("tuple", n) for n in range(7)} | {("list", 1)}


def test_hidden_kernels_of_every_dimension_count_are_not_square_on_every_draw():
    for seed in range(200):
        shapes = initialization._fresh_shapes(np.random.default_rng(seed))
        for dims in (4, 5, 6):
            assert any(len(s) == dims and len(set(s[2:])) == dims - 2 for s in shapes), (seed, dims)


def test_the_torch_statistics_never_fail_a_correct_bound_and_catch_one_off_by_a_percent():
    rng = np.random.default_rng(0)
    for trial in range(15):
        shape = initialization._torch_stat_shapes(rng)[trial % 5]
        fan_in, fan_out = initialization._torch_fans(shape)
        right = initialization._xavier_formula(fan_in, fan_out, 1.0)
        seed = int(rng.integers(0, 2**62))

        def diagnose():
            return CheckFailed("wrong bound")

        initialization._against_torch(right, right, diagnose, shape, seed, "xavier_uniform_", {"gain": 1.0}, "x")
        for factor in (1.01, 0.99):
            with pytest.raises(CheckFailed, match="wrong bound"):
                initialization._against_torch(right * factor, right, diagnose, shape, seed, "xavier_uniform_",
                                              {"gain": 1.0}, "x")
    # the statistics alone (max |w| and the variance) also reject a 1% error on a large fill
    shape, seed = (800, 1200), 7
    big = initialization._torch_init("kaiming_uniform_", shape, seed, mode="fan_in", nonlinearity="relu")
    n, largest, variance = big.numel(), big.abs().max().item(), big.var().item()
    bound = math.sqrt(6 / 1200)
    tolerance = initialization.SIGMAS * math.sqrt(0.8) / math.sqrt(n)
    assert bound * (1 - initialization.MAX_BELOW / n) <= largest <= bound
    assert abs(variance / (bound**2 / 3) - 1) < tolerance
    too_large, too_small = 1.01 * bound, 0.99 * bound
    assert largest < too_large * (1 - initialization.MAX_BELOW / n) and largest > too_small
    for wrong in (too_large, too_small):
        assert abs(variance / (wrong**2 / 3) - 1) > tolerance


def test_run_checks_prints_a_pass_and_raises_assertion_error_with_the_diagnosis(capsys):
    from autograder.checks import run_checks

    run_checks("he_uniform_bound", namespace_of(SUBMISSIONS / "correct_math.py"))
    assert "he_uniform_bound: all visible checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="receptive field"):
        run_checks("fan_in_and_fan_out", namespace_of(SUBMISSIONS / "mistake_receptive_field_ignored.py"), hidden=True)


def test_an_unimplemented_part_says_so():
    namespace = {}
    exec("def xavier_uniform_bound(fan_in, fan_out, gain=1.0):\n    raise NotImplementedError()\n", namespace)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        initialization.PARTS["xavier_uniform_bound"](LocalImplementation(namespace), hidden=False)


def test_wrong_return_types_get_clear_messages():
    cases = {
        "def fan_in_and_fan_out(shape):\n    return shape[1]\n": ("fan_in_and_fan_out", "pair"),
        "def he_uniform_bound(fan_in, gain=2 ** 0.5):\n    a = gain * (3 / fan_in) ** 0.5\n    return (-a, a)\n":
            ("he_uniform_bound", "single number"),
        "def xavier_uniform_bound(fan_in, fan_out, gain=1.0):\n    return -gain * (6 / (fan_in + fan_out)) ** 0.5\n":
            ("xavier_uniform_bound", "positive"),
        "def xavier_uniform_bound(fan_in, fan_out, gain=2 ** 0.5):\n    return gain * (6 / (fan_in + fan_out)) ** 0.5\n":
            ("xavier_uniform_bound", "default gain is 1.0"),
        "def he_uniform_bound(fan_in, gain=1.0):\n    return gain * (3 / fan_in) ** 0.5\n":
            ("he_uniform_bound", "default gain is sqrt(2)"),
    }
    for source, (part, keyword) in cases.items():
        namespace = {}
        exec(source, namespace)
        with pytest.raises(CheckFailed, match=keyword.replace("(", r"\(").replace(")", r"\)")):
            initialization.PARTS[part](LocalImplementation(namespace), False)


SHORTCUTS = {
    "fan_in_and_fan_out": [
        "import torch\ndef fan_in_and_fan_out(shape):\n"
        "    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))\n",
        "from torch.nn.init import _calculate_fan_in_and_fan_out as fans\ndef fan_in_and_fan_out(shape):\n"
        "    import torch\n    return fans(torch.empty(shape))\n",
    ],
    "xavier_uniform_bound": [
        "import torch\ndef xavier_uniform_bound(fan_in, fan_out, gain=1.0):\n"
        "    w = torch.empty(fan_out, fan_in)\n    torch.nn.init.xavier_uniform_(w, gain)\n    return w.abs().max()\n",
    ],
    "he_uniform_bound": [
        "import math\nfrom torch.nn import init\ndef he_uniform_bound(fan_in, gain=None):\n"
        "    gain = init.calculate_gain('relu') if gain is None else gain\n    return gain * math.sqrt(3 / fan_in)\n",
        "import torch\ndef he_uniform_bound(fan_in, gain=2 ** 0.5):\n"
        "    return getattr(torch.nn.init, 'calc' + 'ulate_gain')('linear') * gain * (3 / fan_in) ** 0.5\n",
    ],
}


def test_the_grader_scans_every_part_for_torch_init_shortcuts_and_passes_honest_code():
    scanned = forbidden_names()
    for part in initialization.PARTS:
        assert scanned[part] == set(initialization.FORBIDDEN_NAMES)
    for part, sources in SHORTCUTS.items():
        for source in sources:
            assert forbidden.findings(source, set(initialization.PARTS), scanned[part]), source
    for path in sorted(SUBMISSIONS.glob("*.py")):
        for part, source in parse_variant(path).items():
            assert forbidden.findings(source, set(initialization.PARTS), scanned[part]) == [], (path.stem, part)
    # an honest local variable named `init` is not flagged (why "init" is not a forbidden name)
    honest = "import math\ndef he_uniform_bound(fan_in, gain=math.sqrt(2.0)):\n    init = gain * math.sqrt(3 / fan_in)\n    return init\n"
    assert forbidden.findings(honest, set(initialization.PARTS), scanned["he_uniform_bound"]) == []


def test_references_are_what_the_instructor_solution_builds():
    built = initialization.build_references(references.solution_namespace(initialization.CHAPTER))
    shipped = references.load(initialization.CHAPTER)
    assert sorted(built) == sorted(shipped)
    for key in built:
        assert built[key].dtype == shipped[key].dtype and np.array_equal(built[key], shipped[key]), key
    assert references.npz_bytes(built) == (references.REFERENCE_DIR / f"{initialization.CHAPTER}.npz").read_bytes()


def test_the_instructor_solution_cells_are_the_correct_math_submission():
    cells = references.solution_cells(initialization.CHAPTER)
    assert list(cells) == list(initialization.PARTS)
    namespace = references.solution_namespace(initialization.CHAPTER)
    for check in initialization.PARTS.values():
        check(LocalImplementation(dict(namespace)), False)


def test_a_tampered_reference_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "reference"
    shutil.copytree(references.REFERENCE_DIR, copy)
    monkeypatch.setattr(references, "REFERENCE_DIR", copy)
    monkeypatch.setattr(references, "CHECKSUMS", copy / "checksums.json")
    arrays = references.load(initialization.CHAPTER)  # the untouched copy loads
    arrays["he_bound"] = arrays["he_bound"] * 1.5
    (copy / f"{initialization.CHAPTER}.npz").write_bytes(references.npz_bytes(arrays))
    with pytest.raises(references.ReferenceFileError, match="checksum"):
        references.load(initialization.CHAPTER)
    # a visible check then stops with the infrastructure error, not a verdict on the student's code
    with pytest.raises(references.ReferenceFileError):
        initialization.PARTS["he_uniform_bound"](LocalImplementation(namespace_of(SUBMISSIONS / "correct_math.py")), False)
