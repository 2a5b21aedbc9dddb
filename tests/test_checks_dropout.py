"""Chapter 02's checks give every sample submission the verdict expected.json records.

Each file in tests/submissions/02_dropout/ holds the code of all solution cells (`# %% <part>`
introduces a cell). The correct ones, written in different styles, must pass every visible and
hidden check; each mistake_*.py must fail exactly the test cells expected.json names, with a
diagnosis that names the mistake key below. The hidden checks give the same verdicts whatever
inputs they draw (a few seeds here; CHECK_SEEDS=200 in the environment runs 200). The references
the visible checks use must be what `build_references` makes from the instructor solution, and a
tampered copy must be refused.
"""
import json
import os
import shutil
import warnings

import numpy as np
import pytest

from autograder import references
from autograder.checks import CheckFailed, LocalImplementation, dropout
from dlcourse import course
from notebook_runner import ROOT
from sample_notebooks import assert_expected_verdicts, assert_sample_files_complete, execute_variant as namespace_of

SUBMISSIONS = ROOT / "tests" / "submissions" / dropout.CHAPTER
EXPECTED = json.loads((SUBMISSIONS / "expected.json").read_text())

# The diagnosis each mistake must produce: the key of the known mistake (dropout.MISTAKES, the
# shared ones included) that every failing cell's message names, or a tuple of keys when the one
# mistake shows as a different diagnosis in each part.
KEYWORDS = {
    "mistake_no_scaling": "not_scaled",
    "mistake_scaling_at_eval": "eval_scaled",
    "mistake_p_as_keep_prob": "keep_probability",
    "mistake_dropping_in_eval": "dropped_in_eval",
    "mistake_backward_no_scale": "backward_not_scaled",
    "mistake_new_mask_in_backward": "new_mask_in_backward",
    "mistake_nan_at_p1": "nan_at_p1",
    "mistake_ignores_self_training": "ignores_training_flag",
    "mistake_calls_f_dropout": "forbidden",
    "mistake_p1_zeros_like": "p1_cuts_graph",
    "mistake_ignores_rng": "rng_ignored",
    "mistake_rng_none_fixed_seed": "rng_none_fixed",
    "mistake_no_value_error": "error_not_raised",
    "mistake_p1_before_eval": ("eval_zeros_at_p1", "backward_eval_not_dout", "module_eval_zeros_at_p1"),
    "mistake_numpy_mask_in_module": "mask_not_from_torch",
    "mistake_mask_drawn_once": "mask_drawn_once",
    "mistake_default_p": "default_p_wrong",
    "mistake_casts_to_float32": "dtype_changed",
    "mistake_p_as_buffer": "has_buffers",
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


def test_every_submission_file_has_an_expectation_and_a_keyword():
    assert_sample_files_complete(dropout.CHAPTER, dropout.PARTS, KEYWORDS)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_submission_gets_the_expected_verdicts(stem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 in the NaN mistake
        assert_expected_verdicts(dropout.CHAPTER, stem, dropout.PARTS, KEYWORDS)


def test_every_mistake_a_hidden_test_catches_fails_the_self_check_too():
    """No rule is graded by the hidden tests alone: a sample failing a part's hidden test fails its visible one."""
    for stem, verdicts in EXPECTED.items():
        for test in course.autograded_cells(dropout.CHAPTER):
            if test.hidden and not verdicts[test.grade_id]:
                assert not verdicts[course.grade_id_of(test.part)], f"{stem}: {test.grade_id} fails but its self-check passes"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_verdicts_do_not_depend_on_the_hidden_inputs(stem, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_expected_verdicts(dropout.CHAPTER, stem, seeded(dropout.PARTS, seed), KEYWORDS)


def test_p1_zeros_like_fails_the_self_check_too():
    """torch.zeros_like(x) at p = 1 cuts the graph to x: the visible check says so, not only the hidden one."""
    namespace = namespace_of(SUBMISSIONS / "mistake_p1_zeros_like.py")
    with pytest.raises(CheckFailed, match="autograd still reaches the input"):
        dropout.PARTS["Dropout"](LocalImplementation(namespace), hidden=False)


def test_run_checks_prints_a_pass_and_raises_assertion_error_with_the_diagnosis(capsys):
    from autograder.checks import run_checks

    run_checks("Dropout", namespace_of(SUBMISSIONS / "correct_where.py"))
    assert "Dropout: all visible checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="self.training"):
        run_checks("Dropout", namespace_of(SUBMISSIONS / "mistake_ignores_self_training.py"), hidden=True)


def test_an_unimplemented_part_says_so():
    namespace = {}
    exec("def dropout_forward(x, p, train=True, rng=None):\n    raise NotImplementedError()\n", namespace)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        dropout.PARTS["dropout_forward"](LocalImplementation(namespace), hidden=False)


def test_references_are_what_the_instructor_solution_builds():
    built = dropout.build_references(references.solution_namespace(dropout.CHAPTER))
    shipped = references.load(dropout.CHAPTER)
    assert sorted(built) == sorted(shipped)
    for key in built:
        assert built[key].dtype == shipped[key].dtype and np.array_equal(built[key], shipped[key]), key
    assert references.npz_bytes(built) == (references.REFERENCE_DIR / f"{dropout.CHAPTER}.npz").read_bytes()


def test_a_tampered_reference_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "reference"
    shutil.copytree(references.REFERENCE_DIR, copy)
    monkeypatch.setattr(references, "REFERENCE_DIR", copy)
    monkeypatch.setattr(references, "CHECKSUMS", copy / "checksums.json")
    arrays = references.load(dropout.CHAPTER)  # the untouched copy loads
    arrays["bwd_dx"] = arrays["bwd_dx"] * 2
    (copy / f"{dropout.CHAPTER}.npz").write_bytes(references.npz_bytes(arrays))
    with pytest.raises(references.ReferenceFileError, match="checksum"):
        references.load(dropout.CHAPTER)
    # a visible check then stops with the infrastructure error, not a verdict on the student's code
    with pytest.raises(references.ReferenceFileError):
        dropout.PARTS["dropout_backward"](LocalImplementation(namespace_of(SUBMISSIONS / "correct_bool_mask.py")), False)
