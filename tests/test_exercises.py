"""`is_implemented` tells a stub from written code, and lets a written part's own errors through."""
import pytest

from dlcourse.exercises import is_implemented


def stub(x):
    raise NotImplementedError()


def test_a_stub_is_not_implemented():
    assert is_implemented(lambda: stub(1)) is False


def test_written_code_is_implemented_whatever_it_returns():
    assert is_implemented(lambda: None) is True
    assert is_implemented(lambda: abs(-1)) is True


def test_a_written_part_that_fails_otherwise_is_not_hidden():
    with pytest.raises(ZeroDivisionError):
        is_implemented(lambda: 1 / 0)
