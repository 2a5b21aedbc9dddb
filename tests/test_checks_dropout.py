"""Chapter 02's checks give every sample submission the verdict expected.json records.

Each file in tests/submissions/02_dropout/ holds the code of all solution cells (`# %% <part>`
introduces a cell). The correct ones, written in different styles, must pass every visible and
hidden check; each mistake_*.py must fail exactly the test cells expected.json names, with a
diagnosis that contains the keyword below. The references the visible checks use must be what
`build_references` makes from the instructor solution, and a tampered copy must be refused.
"""
import json
import shutil
import warnings

import numpy as np
import pytest

from autograder import references
from autograder.checks import CheckFailed, LocalImplementation, dropout
from notebook_runner import ROOT
from sample_notebooks import (assert_expected_verdicts, assert_sample_files_complete,
                              execute_variant as namespace_of)

SUBMISSIONS = ROOT / "tests" / "submissions" / dropout.CHAPTER
EXPECTED = json.loads((SUBMISSIONS / "expected.json").read_text())

# The diagnosis each mistake must produce (in the first failing check's message).
KEYWORDS = {
    "mistake_no_scaling": "not scaled",
    "mistake_scaling_at_eval": "eval output is scaled",
    "mistake_p_as_keep_prob": "keep probability",
    "mistake_dropping_in_eval": "dropped in eval mode",
    "mistake_backward_no_scale": "dx is not scaled",
    "mistake_new_mask_in_backward": "reuse the forward's mask",
    "mistake_nan_at_p1": "never NaN",
    "mistake_ignores_self_training": "self.training",
    "mistake_calls_f_dropout": "implement the mask yourself",
}


def test_every_submission_file_has_an_expectation_and_a_keyword():
    assert_sample_files_complete(dropout.CHAPTER, dropout.PARTS, KEYWORDS)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_submission_gets_the_expected_verdicts(stem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 in the NaN mistake
        assert_expected_verdicts(dropout.CHAPTER, stem, dropout.PARTS, KEYWORDS)


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
        dropout.check_dropout_forward(LocalImplementation(namespace), hidden=False)


def test_invalid_p_must_raise_value_error():
    source = (SUBMISSIONS / "correct_bool_mask.py").read_text()
    lenient = source.replace('        raise ValueError(f"p must be a probability in [0, 1], got {p}")\n', "        pass\n")
    assert lenient.count("        pass\n") == 2
    namespace = {}
    exec(lenient, namespace)
    with pytest.raises(CheckFailed, match="must raise ValueError"):
        dropout.check_dropout_forward(LocalImplementation(namespace), hidden=True)
    with pytest.raises(CheckFailed, match="must raise ValueError"):
        dropout.check_Dropout(LocalImplementation(namespace), hidden=True)


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
        dropout.check_dropout_backward(LocalImplementation(namespace_of(SUBMISSIONS / "correct_bool_mask.py")), False)
