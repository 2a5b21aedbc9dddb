"""Chapter 03's checks give every sample submission the verdict expected.json records.

Each file in tests/submissions/03_batchnorm/ holds the code of all solution cells (`# %% <part>`
introduces a cell). The correct ones, written in different styles, must pass every visible and
hidden check; each mistake_*.py must fail exactly the test cells expected.json names, with a
diagnosis that names the mistake key below. The hidden checks give the same verdicts whatever
inputs they draw (a few seeds here; CHECK_SEEDS=200 in the environment runs 200). Further tests
make sure single checks can fail (edge cases, the numeric gradient check, buffers), that the
references are what `build_references` makes from the instructor solution, and that a tampered
reference file is refused.
"""
import json
import os
import shutil
import warnings

import numpy as np
import pytest

from autograder import references
from autograder.checks import CheckFailed, LocalImplementation, batchnorm
from dlcourse import course
from notebook_runner import ROOT
from sample_notebooks import assert_expected_verdicts, assert_sample_files_complete, execute_variant as namespace_of, parse_variant

SUBMISSIONS = ROOT / "tests" / "submissions" / batchnorm.CHAPTER
EXPECTED = json.loads((SUBMISSIONS / "expected.json").read_text())

# The diagnosis each mistake must produce: the key of the known mistake (batchnorm.MISTAKES, the
# shared ones included) that every failing cell's message names, or a tuple of keys when the one
# mistake shows as a different diagnosis in each part.
KEYWORDS = {
    "mistake_unbiased_normalization": "unbiased_normalization",
    "mistake_biased_running_var": "biased_running_var",
    "mistake_inverted_momentum": "momentum_inverted",
    "mistake_eps_outside_root": ("eps_outside_root", "forward_wrong_first"),  # the backward's cache comes from the forward
    "mistake_eval_batch_stats": "eval_uses_batch_stats",
    "mistake_running_not_updated": "running_not_updated",
    "mistake_running_updated_in_eval": "running_updated_in_eval",
    "mistake_gamma_beta_swapped": "gamma_beta_swapped",
    "mistake_wrong_axis": "wrong_axis",
    "mistake_naive_backward": "naive_backward",
    "mistake_plain_tensor_stats": "statistics_not_buffers",
    "mistake_f_batch_norm": "forbidden",
    "mistake_no_mode_check": "error_not_raised",
    "mistake_rejects_n2": "rejects_valid_call",
    "mistake_no_single_value_error": "error_not_raised",
    "mistake_module_counts_examples": "counts_examples",
    "mistake_eval_missing_defaults": "bn_param_defaults_missing",
    "mistake_eval_ignores_eps": "eval_eps_ignored",
    "mistake_nbt_float": "nbt_not_long",
    "mistake_in_place_updates": "input_changed_in_place",
    "mistake_buffer_updates_tracked": "buffer_updates_tracked",
    "mistake_eval_without_gradients": "eval_without_gradients",
}
SEEDS = range(int(os.environ.get("CHECK_SEEDS", "3")))  # numpy.random.seed values for the hidden draws


def seeded(parts: dict, seed: int) -> dict:
    """The chapter's checks, each run right after numpy.random.seed(seed): the hidden ones then draw from that seed."""
    def run_after_seeding(check):
        def run(impl, hidden):
            np.random.seed(seed)
            return check(impl, hidden)
        return run
    return {part: run_after_seeding(check) for part, check in parts.items()}


def failure(part: str, namespace: dict, hidden: bool) -> str:
    with pytest.raises(CheckFailed) as info:
        batchnorm.PARTS[part](LocalImplementation(dict(namespace)), hidden)
    return str(info.value)


def edited(stem: str, part: str, old: str, new: str, count: int = 1) -> dict:
    """A correct submission with one edit in one cell (asserting the edit applies)."""
    def edit(cell, source):
        if cell != part:
            return source
        assert source.count(old) == count, (old, source.count(old))
        return source.replace(old, new)
    return namespace_of(SUBMISSIONS / f"{stem}.py", edit)


def test_every_submission_file_has_an_expectation_and_a_keyword():
    assert_sample_files_complete(batchnorm.CHAPTER, batchnorm.PARTS, KEYWORDS)


def test_the_reference_submission_is_the_notebooks_solution():
    solution = references.solution_cells(batchnorm.CHAPTER)
    sample = parse_variant(SUBMISSIONS / "correct_reference.py")
    assert list(solution) == list(sample)
    for part, source in solution.items():
        code = [line for line in source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
        assert "\n".join(code).strip() == sample[part].strip(), part


@pytest.mark.slow  # about 4 s a sample: `make test` runs it
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_submission_gets_the_expected_verdicts(stem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 where the single-value error is missing
        assert_expected_verdicts(batchnorm.CHAPTER, stem, batchnorm.PARTS, KEYWORDS)


def test_every_mistake_a_hidden_test_catches_fails_the_self_check_too():
    """No rule is graded by the hidden tests alone: a sample failing a part's hidden test fails its visible one."""
    for stem, verdicts in EXPECTED.items():
        for test in course.autograded_cells(batchnorm.CHAPTER):
            if test.hidden and not verdicts[test.grade_id]:
                assert not verdicts[course.grade_id_of(test.part)], f"{stem}: {test.grade_id} fails but its self-check passes"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_verdicts_do_not_depend_on_the_hidden_inputs(stem, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_expected_verdicts(batchnorm.CHAPTER, stem, seeded(batchnorm.PARTS, seed), KEYWORDS)


def test_run_checks_prints_a_pass_and_raises_assertion_error_with_the_diagnosis(capsys):
    from autograder.checks import run_checks

    run_checks("BatchNorm2d", namespace_of(SUBMISSIONS / "correct_graph.py"))
    assert "BatchNorm2d: all visible checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="momentum inverted"):
        run_checks("batchnorm_forward", namespace_of(SUBMISSIONS / "mistake_inverted_momentum.py"), hidden=True)


def test_an_unimplemented_part_says_so():
    namespace = {}
    exec("def batchnorm_forward(x, gamma, beta, bn_param):\n    raise NotImplementedError()\n", namespace)
    assert "not implemented yet" in failure("batchnorm_forward", namespace, hidden=False)
    exec("import torch\nclass BatchNorm1d(torch.nn.Module):\n    def __init__(self, n, eps=1e-5, momentum=0.1):\n"
         "        super().__init__()\n        raise NotImplementedError()\n", namespace)
    assert "not implemented yet" in failure("BatchNorm1d", namespace, hidden=False)


def test_forward_defaults_are_required():
    ignores_eps = edited("correct_reference", "batchnorm_forward", 'eps = bn_param.get("eps", 1e-5)', "eps = 1e-5")
    assert "eps you were given is ignored" in failure("batchnorm_forward", ignores_eps, hidden=False)
    ignores_momentum = edited("correct_reference", "batchnorm_forward",
                              'momentum = bn_param.get("momentum", 0.1)', "momentum = 0.1")
    assert "momentum you were given is ignored" in failure("batchnorm_forward", ignores_momentum, hidden=False)
    # defaults that are not zeros and ones show up when no running statistics are given
    bad_default = edited("correct_keepdims", "batchnorm_forward",
                         'rv = bn_param["running_var"] if "running_var" in bn_param else 1.0',
                         'rv = 0.0 if "running_var" not in bn_param else bn_param["running_var"]')
    assert "no running statistics given" in failure("batchnorm_forward", bad_default, hidden=True)


def test_a_slightly_wrong_dx_fails_the_torch_comparison_and_the_numeric_gradient_check():
    off = edited("correct_reference", "batchnorm_backward", "    return dx, dgamma, dbeta", "    return dx * 1.001, dgamma, dbeta")
    assert "dx" in failure("batchnorm_backward", off, hidden=True)
    with pytest.raises(CheckFailed, match="dx disagrees with a numeric central-difference gradient"):
        batchnorm._numeric_gradient_check(LocalImplementation(off), np.random.default_rng(0))
    batchnorm._numeric_gradient_check(LocalImplementation(namespace_of(SUBMISSIONS / "correct_graph.py")),
                                      np.random.default_rng(0))


def test_the_unbiased_correction_must_count_every_value_of_a_channel():
    wrong_count = edited("correct_reference", "BatchNorm1d", "count = x.numel() // x.shape[1]        # values per channel",
                         "count = x.shape[0]")
    assert "wrong count" in failure("BatchNorm1d", wrong_count, hidden=False)


def test_statistics_registered_as_parameters_are_refused():
    as_parameters = edited("correct_reference", "BatchNorm2d", 'self.register_buffer("running_mean", torch.zeros(num_features))',
                           "self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)")
    assert "registered as nn.Parameter" in failure("BatchNorm2d", as_parameters, hidden=False)


def test_a_state_dict_torch_cannot_load_is_refused():
    shaped = edited("correct_reference", "BatchNorm1d", "torch.tensor(0, dtype=torch.long)", "torch.zeros(1, dtype=torch.long)")
    assert "num_batches_tracked" in failure("BatchNorm1d", shaped, hidden=True)


def test_references_are_what_the_instructor_solution_builds():
    built = batchnorm.build_references(references.solution_namespace(batchnorm.CHAPTER))
    shipped = references.load(batchnorm.CHAPTER)
    assert sorted(built) == sorted(shipped)
    for key in built:
        assert built[key].dtype == shipped[key].dtype and np.array_equal(built[key], shipped[key]), key
    assert references.npz_bytes(built) == (references.REFERENCE_DIR / f"{batchnorm.CHAPTER}.npz").read_bytes()


def test_build_references_refuses_a_solution_that_disagrees_with_torch():
    wrong = edited("correct_reference", "batchnorm_forward", "momentum * var * n / (n - 1)", "momentum * var")
    with pytest.raises(AssertionError, match="disagrees with PyTorch"):
        batchnorm.build_references(wrong)


def test_a_tampered_reference_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "reference"
    shutil.copytree(references.REFERENCE_DIR, copy)
    monkeypatch.setattr(references, "REFERENCE_DIR", copy)
    monkeypatch.setattr(references, "CHECKSUMS", copy / "checksums.json")
    arrays = references.load(batchnorm.CHAPTER)  # the untouched copy loads
    arrays["fwd_a_out"] = arrays["fwd_a_out"] + 1e-3
    (copy / f"{batchnorm.CHAPTER}.npz").write_bytes(references.npz_bytes(arrays))
    with pytest.raises(references.ReferenceFileError, match="checksum"):
        references.load(batchnorm.CHAPTER)
    # a visible check then stops with the infrastructure error, not a verdict on the student's code
    with pytest.raises(references.ReferenceFileError):
        batchnorm.PARTS["batchnorm_forward"](LocalImplementation(namespace_of(SUBMISSIONS / "correct_reference.py")), False)
