"""The shared vocabulary of the checks and the one runner of graded parts.

Every graded part is a `Part` table entry run by `run_part`, the same in a notebook's self-check,
`validate` and `grade`: the runner seeds, loads references, applies the forbidden rule (one
message text, static or dynamic) and words every verdict. These tests pin those rules once,
for every chapter.
"""
import numpy as np
import pytest

from autograder import forbidden
from autograder.checks import CheckFailed, LocalImplementation, Part, StudentError, chapter_modules, parts, run_part
from autograder.checks.calling import expect_error, not_implemented, raised
from autograder.checks.closeness import PerDtype, Tolerance, close
from autograder.checks.mistakes import SHARED, matching, table
from autograder.checks.runner import FORBIDDEN
from autograder.checks.seeds import SEED_LIMIT, fresh_rng, fresh_seed


def test_every_graded_part_is_a_part_of_its_chapter():
    for chapter, module in chapter_modules().items():
        assert module.PARTS and all(isinstance(p, Part) and p.chapter == chapter and p.name == name
                                    for name, p in module.PARTS.items()), chapter
        assert all(part.mistakes is module.MISTAKES for part in module.PARTS.values()), chapter


def test_raised_names_the_unimplemented_function_and_otherwise_the_call():
    placeholder = StudentError(("NotImplementedError", "RuntimeError", "Exception"), "")
    assert str(raised(placeholder, "f(1)", "f")) == not_implemented("f")
    assert raised(placeholder, "f(1)", "f").mistake == "not_implemented"
    assert "`f` is not implemented yet" in not_implemented("f")
    error = StudentError(("KeyError", "LookupError", "Exception"), "'eps {x}'")  # a student's braces are text
    assert str(raised(error, "f(1)", "f")) == "f(1) raised KeyError: 'eps {x}'"
    assert raised(error, "f(1)", "f").mistake == "raised_error"


def test_expect_error_has_one_wording():
    def returns():
        return 1

    def raises(kind):
        def run():
            raise StudentError((kind, "Exception"), "no")
        return run

    expect_error("ValueError", "f", "f(-1)", "why", raises("ValueError"))
    with pytest.raises(CheckFailed, match=r"^f\(-1\) must raise ValueError: why$") as info:
        expect_error("ValueError", "f", "f(-1)", "why", returns)
    assert info.value.mistake == "error_not_raised"
    with pytest.raises(CheckFailed, match=r"^f\(-1\) raised TypeError: no; it must raise ValueError: why$") as info:
        expect_error("ValueError", "f", "f(-1)", "why", raises("TypeError"))
    assert info.value.mistake == "wrong_error_raised"
    with pytest.raises(CheckFailed, match="not implemented yet") as info:
        expect_error("ValueError", "f", "f(-1)", "why", raises("NotImplementedError"))
    assert info.value.mistake == "not_implemented"


def test_close_needs_the_same_shape_finite_values_and_the_named_tolerance():
    tight = Tolerance(rtol=1e-6)
    assert close(1.0 + 1e-7, 1.0, tight) and not close(1.0 + 1e-5, 1.0, tight)
    assert not close(np.ones(3), np.ones(4), tight) and not close(np.array([np.inf]), np.array([np.inf]), tight)
    scaled = Tolerance(rtol=0.0, atol=1e-3, scaled=True)  # atol relative to 1 + max |expected|
    assert close(np.array([1000.5]), np.array([1000.0]), scaled) and not close(np.array([0.01]), np.array([0.0]), scaled)
    per_dtype = PerDtype(float32=Tolerance(1e-5), float64=Tolerance(1e-10))
    assert per_dtype("float32").rtol == 1e-5 and per_dtype(np.float64).rtol == 1e-10
    assert tight.looser(5).rtol == pytest.approx(5e-6)


def test_matching_names_the_first_mistake_whose_value_matches():
    mistakes = table(doubled="twice {what}", negated="the sign of {what}")
    same = lambda a, b: a == b  # noqa: E731
    candidates = [("ok", 3), ("doubled", 6), ("negated", -3), ("doubled", 12)]
    assert matching(6, candidates, mistakes, same).key == "doubled"
    assert matching(12, candidates, mistakes, same).key == "doubled"  # one mistake, two ways of making it
    assert matching(3, candidates, mistakes, same) is None  # "ok" is no mistake
    failure = mistakes["negated"].failure("f(3)", what="x")
    assert str(failure) == "f(3): the sign of x" and failure.mistake == "negated"


def test_fresh_seeds_come_from_one_range_and_repeat_for_a_seeded_global_generator():
    np.random.seed(7)
    first = [fresh_seed(fresh_rng()) for _ in range(5)]
    np.random.seed(7)
    assert first == [fresh_seed(fresh_rng()) for _ in range(5)]
    assert all(0 <= s < SEED_LIMIT for s in first)


def _toy_part(visible=None, hidden=None, names=frozenset()) -> Part:
    return Part("dropout_forward", "02_dropout", visible or (lambda impl, ref: None), hidden or (lambda impl, rng: None),
                forbidden_names=names)


def test_the_runner_words_every_verdict():
    impl = LocalImplementation({})
    assert run_part(_toy_part(), impl, False).message == "dropout_forward: all visible checks passed"
    assert run_part(_toy_part(), impl, True).message == "dropout_forward: all hidden checks passed"

    def fails(impl, ref):
        raise CheckFailed("out is wrong", mistake="not_scaled")

    verdict = run_part(_toy_part(visible=fails), impl, False)
    assert (verdict.passed, verdict.message, verdict.mistake) == (False, "dropout_forward: out is wrong", "not_scaled")

    def student_raised(impl, ref):
        raise StudentError(("ZeroDivisionError", "ArithmeticError", "Exception"), "division by zero")

    verdict = run_part(_toy_part(visible=student_raised), impl, False)
    assert (verdict.detail, verdict.mistake) == ("your code raised ZeroDivisionError: division by zero", "raised_error")

    def trips(impl, ref):
        return ref["no such reference"]

    verdict = run_part(_toy_part(visible=trips), impl, False)
    assert verdict.detail.startswith("the checks could not use what your code") and verdict.mistake == "unusable_result"
    assert run_part(_toy_part(), impl, False, unusable=lambda: "no code found").detail == "no code found"


def test_the_visible_checks_get_the_references_and_the_hidden_ones_a_seeded_generator():
    seen = {}
    part = _toy_part(visible=lambda impl, ref: seen.update(ref=sorted(ref)),
                     hidden=lambda impl, rng: seen.setdefault("draws", []).append(rng.integers(0, 10**9, size=3).tolist()))
    run_part(part, LocalImplementation({}), False)
    assert "fwd_x" in seen["ref"]
    run_part(part, LocalImplementation({}), True, seed=1234)
    run_part(part, LocalImplementation({}), True, seed=1234)
    run_part(part, LocalImplementation({}), True, seed=1235)
    first, again, other = seen["draws"]
    assert first == again != other


def test_the_forbidden_rule_has_one_message_static_or_dynamic():
    for found in (["`F.dropout` (line 3)"], ["`dropout` ran", "`native_dropout` ran"]):  # the scan's own words
        assert SHARED[FORBIDDEN].text(findings="; ".join(found)) == forbidden.verdict(found)
    impl = LocalImplementation({})
    static = run_part(_toy_part(names=frozenset({"dropout"})), impl, False, findings=["`F.dropout` (line 3)"])
    assert static.detail == forbidden.verdict(["`F.dropout` (line 3)"]) and static.mistake == FORBIDDEN
    impl.forbidden_seen = {"native_dropout"}
    dynamic = run_part(_toy_part(names=frozenset({"dropout"})), impl, False)
    assert dynamic.detail == forbidden.verdict(["`native_dropout` ran"]) and dynamic.mistake == FORBIDDEN
    assert run_part(_toy_part(), impl, False).passed  # a part that forbids nothing ignores the log


def test_static_findings_fail_a_part_before_its_checks_run():
    ran = []
    part = _toy_part(visible=lambda impl, ref: ran.append(True), names=frozenset({"dropout"}))
    assert not run_part(part, LocalImplementation({}), False, findings=["`F.dropout` (line 1)"]).passed
    assert not ran


def test_a_part_called_like_a_check_function_raises_the_runners_diagnosis():
    with pytest.raises(CheckFailed, match="not implemented yet") as info:
        namespace = {}
        exec("def dropout_forward(x, p, train=True, rng=None):\n    raise NotImplementedError()\n", namespace)
        parts()["dropout_forward"](LocalImplementation(namespace), False)
    assert str(info.value).startswith("`dropout_forward` is not implemented yet")
