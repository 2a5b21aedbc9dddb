"""Chapter 05's checks give every sample submission the verdict expected.json records.

Each file in tests/submissions/05_overfitting/ holds the code of the chapter's solution cell
(`# %% EarlyStopping`). The correct ones, written in different styles, must pass every visible
and hidden check; each mistake_*.py must fail exactly the test cells expected.json names, with a
diagnosis that names the mistake key below, whatever the fresh inputs of the hidden checks. The
designed cases must catch every known mistake and wrong default on every draw, and the visible
cases must hold every kind of case the hidden ones grade. The oracle the hidden checks use must agree with the
specification's worked example and with torch's ReduceLROnPlateau; the references the visible
checks use must be what `build_references` makes from the instructor solution, and a tampered
copy must be refused.
"""
import json
import math
import shutil

import numpy as np
import pytest

from autograder import references
from autograder.checks import CheckFailed, LocalImplementation, early_stopping
from dlcourse.course import grade_id_of
from notebook_runner import ROOT
from sample_notebooks import assert_expected_verdicts, assert_sample_files_complete, execute_variant as namespace_of, expected_keys

SUBMISSIONS = ROOT / "tests" / "submissions" / early_stopping.CHAPTER
EXPECTED = json.loads((SUBMISSIONS / "expected.json").read_text())

# The diagnosis each mistake must produce: the key of the known mistake (early_stopping.MISTAKES,
# the shared ones included) that every failing cell's message names.
KEYWORDS = {
    "mistake_non_strict": "non_strict",
    "mistake_ignores_min_delta": "ignores_min_delta",
    "mistake_min_delta_wrong_way": "min_delta_added",
    "mistake_patience_off_by_one": "stops_late",
    "mistake_counter_not_reset": "counter_not_reset",
    "mistake_nan_improves": "nan_improves",
    "mistake_best_epoch_from_0": "best_epoch_from_0",
    "mistake_shallow_copy": "shallow_copy",
    "mistake_not_restoring": "not_restored",
    "mistake_restores_every_call": "restores_before_stop",
    "mistake_parameters_only": "buffers_not_restored",
    "mistake_ignores_restore_flag": "ignores_restore_false",
    "mistake_min_delta_default": "default_min_delta",
    "mistake_patience_default": "default_patience",
    "mistake_restore_default_false": "default_restore",
    "mistake_first_call_always_improves": "first_call_improves",
    "mistake_nan_skipped": "nan_skipped",
    "mistake_crashes_without_copy": "raises_without_copy",
    "mistake_negative_patience_accepted": "error_not_raised",
}


def test_every_submission_file_has_an_expectation_and_a_keyword():
    assert_sample_files_complete(early_stopping.CHAPTER, early_stopping.PARTS, KEYWORDS)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_submission_gets_the_expected_verdicts(stem):
    assert_expected_verdicts(early_stopping.CHAPTER, stem, early_stopping.PARTS, KEYWORDS)


def test_the_oracle_follows_the_worked_example_and_the_rule():
    oracle = early_stopping._oracle
    # the chapter's example: patience 2, a tie is no improvement
    assert [c[0] for c in oracle([0.9, 0.7, 0.8, 0.7], 2, 0.0)] == [False, False, False, True]
    assert oracle([0.9, 0.7, 0.8, 0.7], 2, 0.0)[-1] == (True, 2, 2, 0.7)
    # min_delta: a gain of exactly min_delta is not enough; NaN never improves, also first
    assert oracle([1.0, 0.75, 0.5], 1, 0.25) == [(False, 0, 1, 1.0), (True, 1, 1, 1.0)]
    assert oracle([math.nan], 1, 0.0) == [(True, 1, 0, math.inf)]
    # every mistake really differs from the rule on the visible cases
    cases = [early_stopping.Case(**spec) for spec in early_stopping.VISIBLE_CASES]
    for mistake in early_stopping.RULE_MISTAKES:
        assert any(oracle(c.losses, c.patience, c.min_delta, mistake) != oracle(c.losses, c.patience, c.min_delta)
                   for c in cases), mistake


def test_the_oracle_stops_where_torch_reduce_lr_on_plateau_first_cuts_the_rate():
    rng = np.random.default_rng(5)
    for _ in range(200):
        min_delta = float(rng.choice([0, 1, 2, 4, 8])) * early_stopping.GRID
        losses = early_stopping._random_losses(rng, min_delta, int(rng.integers(2, 25)), nan=bool(rng.random() < 0.3))
        patience = int(rng.integers(1, 6))
        calls = early_stopping._oracle(losses, patience, min_delta)
        assert early_stopping._plateau_stop_call(losses, patience, min_delta) == (len(calls) if calls[-1][0] else 0)


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_hidden_verdicts_do_not_depend_on_the_fresh_inputs(stem):
    # a handful of seeds here; the audit ran 200 (see the commit message)
    namespace = namespace_of(SUBMISSIONS / f"{stem}.py")
    for seed in range(3):
        np.random.seed(2000 + seed)  # what the grader does per submission and test
        try:
            early_stopping.PARTS["EarlyStopping"](LocalImplementation(dict(namespace)), True)
            message = key = None
        except CheckFailed as failure:
            message, key = str(failure), failure.mistake
        assert (message is None) == EXPECTED[stem][grade_id_of("EarlyStopping", hidden=True)], (stem, seed, message)
        assert message is None or key in expected_keys(KEYWORDS[stem]), (stem, seed, key, message)


def test_the_designed_cases_grade_every_clause_on_every_draw():
    for seed in range(100):
        cases = early_stopping._designed_cases(np.random.default_rng(seed))
        for mistake in early_stopping.STOPPING_MISTAKES:
            assert early_stopping._catches(cases, mistake), (seed, mistake)
        assert early_stopping._confused(cases) == [], seed
        for patience, min_delta in early_stopping._default_variants():
            assert early_stopping._catches_default(cases, patience, min_delta), (seed, patience, min_delta)
        assert set().union(*map(early_stopping._kinds, cases)) == set(early_stopping.KINDS), seed
        # each designed case holds the kind its docstring names, and its losses are exact in float32
        for make, case in zip(early_stopping.DESIGNED, cases):
            assert all(np.float32(x) == x for x in case.losses if x == x), make.__name__
    kinds = {make.__name__: early_stopping._kinds(make(np.random.default_rng(7))) for make in early_stopping.DESIGNED}
    assert "tie" in kinds["_tie_case"] and "exact_delta" in kinds["_exact_delta_case"]
    assert "tiny_gain" in kinds["_defaults_case"] and "stop_without_copy" in kinds["_no_copy_case"]
    assert "restore_false_stop" in kinds["_restore_false_case"] and "no_stop" in kinds["_no_stop_case"]


def test_the_visible_cases_hold_every_kind_of_case_the_hidden_ones_grade():
    visible = [early_stopping.Case(**spec) for spec in early_stopping.VISIBLE_CASES]
    assert set().union(*map(early_stopping._kinds, visible)) == set(early_stopping.KINDS)
    early_stopping._assert_visible_cases_catch_everything()
    for seed in range(20):  # random hidden cases hold nothing the kinds do not name
        for case in early_stopping._hidden_cases(np.random.default_rng(seed)):
            assert early_stopping._kinds(case) <= set(early_stopping.KINDS)
    # the constructor: the same kinds of valid and invalid arguments, visible and hidden
    fixed = early_stopping._construction_arguments(None)
    drawn = early_stopping._construction_arguments(np.random.default_rng(3))
    for mine, theirs in zip(fixed, drawn):
        assert [sorted(k) for k in mine] == [sorted(k) for k in theirs]


def test_hidden_cases_are_fresh_and_catch_every_mistake():
    first = early_stopping._hidden_cases(np.random.default_rng(1))
    second = early_stopping._hidden_cases(np.random.default_rng(2))
    assert [c.losses for c in first] != [c.losses for c in second]
    for cases in (first, second):
        assert all(len(c.states) == len(c.losses) for c in cases)
        assert any(c.defaults for c in cases) and any(not c.restore for c in cases) and any(c.restore for c in cases)
        assert any(any(x != x for x in c.losses) for c in cases), "some case must hold a NaN"
        for mistake in early_stopping.RULE_MISTAKES:
            if mistake != "best_epoch_from_0":
                caught = sum(early_stopping._oracle(c.losses, c.patience, c.min_delta, mistake)
                             != early_stopping._oracle(c.losses, c.patience, c.min_delta) for c in cases)
                assert caught >= 2, mistake


def _edited(old: str, new: str) -> dict:
    source = (SUBMISSIONS / "correct_deepcopy_state_dict.py").read_text()
    assert source.count(old) == 1
    namespace = {}
    exec(source.replace(old, new), namespace)
    return namespace


@pytest.mark.parametrize("old", ["        if patience < 1:\n", "        if min_delta < 0:\n"])
def test_invalid_arguments_must_raise_value_error(old):
    namespace = _edited(old, old.replace("if ", "if False and "))
    for hidden in (False, True):
        with pytest.raises(CheckFailed, match="must raise ValueError"):
            early_stopping.PARTS["EarlyStopping"](LocalImplementation(namespace), hidden)


def test_initial_attributes_and_the_answer_type_are_checked():
    namespace = _edited("        self.best_epoch = 0\n", "        self.best_epoch = None\n")
    with pytest.raises(CheckFailed, match="`best_epoch` must be a number, found a NoneType"):
        early_stopping.PARTS["EarlyStopping"](LocalImplementation(namespace), False)
    namespace = _edited("        self.best_loss = math.inf\n", "        self.best_loss = 1e9\n")
    with pytest.raises(CheckFailed, match="before any call best_loss must be math.inf"):
        early_stopping.PARTS["EarlyStopping"](LocalImplementation(namespace), False)
    namespace = _edited("        if self.counter < self.patience:\n            return False\n",
                        "        if self.counter < self.patience:\n            return\n")
    with pytest.raises(CheckFailed, match="must return True .* forget a `return False`"):
        early_stopping.PARTS["EarlyStopping"](LocalImplementation(namespace), True)


def test_an_unimplemented_class_says_so():
    namespace = {}
    exec("class EarlyStopping:\n    def __init__(self, patience=5, min_delta=0.0, restore_best_weights=True):\n"
         "        raise NotImplementedError()\n", namespace)
    for hidden in (False, True):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            early_stopping.PARTS["EarlyStopping"](LocalImplementation(namespace), hidden)


def test_run_checks_prints_a_pass_and_raises_assertion_error_with_the_diagnosis(capsys):
    from autograder.checks import run_checks

    run_checks("EarlyStopping", namespace_of(SUBMISSIONS / "correct_model_copy.py"))
    assert "EarlyStopping: all visible checks passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="shallow copy"):
        run_checks("EarlyStopping", namespace_of(SUBMISSIONS / "mistake_shallow_copy.py"), hidden=True)


def test_references_are_what_the_instructor_solution_builds():
    built = early_stopping.build_references(references.solution_namespace(early_stopping.CHAPTER))
    shipped = references.load(early_stopping.CHAPTER)
    assert sorted(built) == sorted(shipped)
    for key in built:
        assert built[key].dtype == shipped[key].dtype and np.array_equal(built[key], shipped[key], equal_nan=True), key
    assert references.npz_bytes(built) == (references.REFERENCE_DIR / f"{early_stopping.CHAPTER}.npz").read_bytes()


def test_a_tampered_reference_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "reference"
    shutil.copytree(references.REFERENCE_DIR, copy)
    monkeypatch.setattr(references, "REFERENCE_DIR", copy)
    monkeypatch.setattr(references, "CHECKSUMS", copy / "checksums.json")
    arrays = references.load(early_stopping.CHAPTER)  # the untouched copy loads
    arrays["case0_losses"] = arrays["case0_losses"] * 2
    (copy / f"{early_stopping.CHAPTER}.npz").write_bytes(references.npz_bytes(arrays))
    with pytest.raises(references.ReferenceFileError, match="checksum"):
        references.load(early_stopping.CHAPTER)
    # a visible check then stops with the infrastructure error, not a verdict on the student's code
    with pytest.raises(references.ReferenceFileError):
        early_stopping.PARTS["EarlyStopping"](
            LocalImplementation(namespace_of(SUBMISSIONS / "correct_deepcopy_state_dict.py")), False)
