"""Every diagnosis names a known mistake: a key of its chapter's MISTAKES table (mistakes.py).

The sample submissions' expected diagnoses (KEYWORDS in tests/test_checks_<module>.py) are such
keys, and every failure of every sample, visible and hidden, names one; so a test, a sample or a
message catalogue can refer to a diagnosis by its key instead of copying its words. The texts
worded outside the checks (the implementations', a sandboxed worker's, grading's reasons a part
cannot be checked) are recognised by their templates.
"""
import importlib
import re
import string
import warnings

import numpy as np
import pytest
import torch

from autograder.checks import CheckFailed, LocalImplementation, Part, chapter_modules, run_part
from autograder.checks.adapter import probe_state_template
from autograder.checks.mistakes import SHARED, WORDED_ELSEWHERE, recognised, table
from sample_notebooks import SUBMISSIONS, execute_variant, expected_keys, local_verdicts

MODULES = {module.CHAPTER: module for module in chapter_modules().values()}


def keywords(module) -> dict:
    return importlib.import_module(f"test_checks_{module.__name__.rsplit('.', 1)[-1]}").KEYWORDS


@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_every_keyword_is_a_key_of_its_chapters_mistakes(chapter):
    module = MODULES[chapter]
    for stem, keys in keywords(module).items():
        assert keys and set(expected_keys(keys)) <= set(module.MISTAKES), (stem, keys)


@pytest.mark.slow  # runs every sample of every chapter, visible and hidden (about two minutes)
@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_no_failure_of_any_sample_lacks_a_key(chapter):
    module = MODULES[chapter]
    unkeyed = {}
    for path in sorted((SUBMISSIONS / chapter).glob("*.py")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            verdicts = local_verdicts(module.PARTS, execute_variant(path))
        for cell, failure in verdicts.items():
            if failure is None:
                continue
            mistake = module.MISTAKES.get(failure.mistake)
            if mistake is None or not mistake.pattern().search(failure):  # the key, and its template's words
                unkeyed[f"{path.stem} {cell}"] = (failure.mistake, str(failure))
    assert not unkeyed


@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_keys_are_snake_case_and_every_template_fills_in(chapter):
    mistakes = MODULES[chapter].MISTAKES
    for key, mistake in mistakes.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key) and mistake.key == key, key
        assert len(key) <= 30, key
        mistake.text(**{name: 1.5 for name in mistake.fields})  # every field is a plain name, with its format
        assert all(name is None or name.isidentifier() for _, name, _, _ in string.Formatter().parse(mistake.message)), key
    messages = [m.message for m in mistakes.values()]
    assert len(set(messages)) == len(messages), "two keys with one message: one key per diagnosis"


def test_every_table_holds_the_shared_mistakes_and_none_redeclares_one():
    for module in MODULES.values():
        assert all(module.MISTAKES[key] is mistake for key, mistake in SHARED.items()), module.CHAPTER
    with pytest.raises(ValueError, match="shared"):
        table(raised_error="a chapter's own words")
    assert set(WORDED_ELSEWHERE) <= set(SHARED)


def _failure_of(action) -> str:
    with pytest.raises(CheckFailed) as info:
        action()
    return str(info.value)


class _Parameters(torch.nn.Module):
    """A module whose output does not come from its input: no gradient reaches the input."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))

    def forward(self, x):
        return self.w * 2.0


def test_the_texts_worded_elsewhere_are_recognised():
    from autograder.grading import _why_unusable

    local = LocalImplementation({"Plain": dict, "Inert": object, "Parameters": _Parameters,
                                 "Callback": lambda: (lambda val_loss, model: False)})
    callback = local.new_object("Callback")
    template = probe_state_template()
    worded = {
        "not_defined": _failure_of(lambda: local.call("dropout_forward")),
        "not_a_module": _failure_of(lambda: local.new_module("Plain")),
        "not_callable": _failure_of(lambda: local.new_object("Inert")),
        "no_input_gradient": _failure_of(lambda: local.new_module("Parameters").forward_backward(np.ones(3), np.ones(3))),
        "model_keys_changed": _failure_of(lambda: callback.step(0.5, {"weight": np.zeros(3)})),
        "model_tensors_replaced": _failure_of(lambda: callback.step(0.5, {**template, "0.weight": np.zeros(7)})),
        "grader_error": "the grader could not run this check (the worker's reply was not valid JSON)",  # remote.py
    }

    class Worker:
        cell_errors = {"Dropout": "NameError: name 'torch' is not defined"}

        def has(self, name):
            return False

    sources = {"Dropout": "class Dropout(torch.nn.Module): ...", "dropout_forward": "dropout_forward = 3"}
    worded["no_code"] = _why_unusable("dropout_backward", sources, Worker())
    worded["cell_raised"] = _why_unusable("Dropout", sources, Worker())
    worded["not_defined_by_cell"] = _why_unusable("dropout_forward", sources, Worker())
    assert sorted(worded) == sorted(WORDED_ELSEWHERE)
    for key, text in worded.items():
        known = recognised(text)
        assert known is not None and known.key == key, (key, text)
    assert recognised("dropout_forward(x, p=0.5): out is wrong") is None

    # the runner gives such a verdict the key, in a notebook as in grading
    def calls_an_undefined_function(impl, ref):
        impl.call("dropout_forward")

    part = Part("dropout_forward", "02_dropout", calls_an_undefined_function, lambda impl, rng: None)
    verdict = run_part(part, LocalImplementation({}), False)
    assert (verdict.passed, verdict.mistake) == (False, "not_defined")
    verdict = run_part(part, LocalImplementation({}), False, unusable=lambda: worded["cell_raised"])
    assert (verdict.detail, verdict.mistake) == (worded["cell_raised"], "cell_raised")
