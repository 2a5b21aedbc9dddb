"""dlcourse.fastmode: one environment variable decides how big every run is."""
import pytest

from dlcourse import fastmode


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv(fastmode.ENV_VAR, "1")


@pytest.fixture
def full(monkeypatch):
    monkeypatch.delenv(fastmode.ENV_VAR, raising=False)


@pytest.fixture(autouse=True)
def default_seeds(monkeypatch):
    monkeypatch.delenv(fastmode.SEED_BASE_VAR, raising=False)


def test_env_var_name():
    assert fastmode.ENV_VAR == "DLCOURSE_FAST"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", "on", " 1 ", "yes\n"])
def test_enabled_for_true_values(monkeypatch, value):
    monkeypatch.setenv("DLCOURSE_FAST", value)
    assert fastmode.enabled() is True


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "off", "2", "fast", "  "])
def test_disabled_for_other_values(monkeypatch, value):
    monkeypatch.setenv("DLCOURSE_FAST", value)
    assert fastmode.enabled() is False


def test_disabled_when_unset(full):
    assert fastmode.enabled() is False


def test_follows_the_variable_at_call_time(monkeypatch):
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    assert fastmode.enabled()
    monkeypatch.setenv("DLCOURSE_FAST", "0")
    assert not fastmode.enabled()
    monkeypatch.delenv("DLCOURSE_FAST")
    assert not fastmode.enabled()


def test_full_mode_sizes(full):
    assert fastmode.pick("big", "small") == "big"
    assert fastmode.epochs(30) == 30
    assert fastmode.epochs(1) == 1
    assert fastmode.seeds(5) == [0, 1, 2, 3, 4]
    assert fastmode.seeds(1) == [0]
    assert fastmode.train_examples() is None
    assert fastmode.test_examples() is None


def test_fast_mode_sizes(fast):
    assert fastmode.pick("big", "small") == "small"
    assert fastmode.epochs(30) == fastmode.FAST_MAX_EPOCHS == 2
    assert fastmode.epochs(1) == 1  # a cap, never an increase
    assert fastmode.seeds(5) == [0, 1]
    assert fastmode.seeds(1) == [0]
    assert fastmode.train_examples() == fastmode.FAST_TRAIN_EXAMPLES == 5_000
    assert fastmode.test_examples() == fastmode.FAST_TEST_EXAMPLES == 1_000


def test_fast_sizes_are_smaller_than_mnist():
    assert 0 < fastmode.FAST_TRAIN_EXAMPLES < 60_000
    assert 0 < fastmode.FAST_TEST_EXAMPLES < 10_000


def test_describe_full(full):
    text = fastmode.describe()
    assert text.startswith("Full mode")
    assert "FAST" not in text


def test_describe_fast(fast):
    text = fastmode.describe()
    assert text.startswith("FAST mode")
    assert "DLCOURSE_FAST" in text
    assert str(fastmode.FAST_TRAIN_EXAMPLES) in text
    assert f"{fastmode.FAST_MAX_EPOCHS} epochs" in text


def test_seeds_start_at_the_seed_base_in_both_modes(monkeypatch):
    monkeypatch.setenv("DLCOURSE_SEED_BASE", "10")
    monkeypatch.delenv("DLCOURSE_FAST", raising=False)
    assert fastmode.seeds(3) == [10, 11, 12]
    assert "Seeds start at 10 (DLCOURSE_SEED_BASE)" in fastmode.describe()
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    assert fastmode.seeds(3) == [10, 11]
    assert "Seeds start at 10" in fastmode.describe()


def test_default_seeds_are_not_mentioned(full):
    assert fastmode.seed_base() == 0 and fastmode.seeds(2) == [0, 1]
    assert "Seeds" not in fastmode.describe()


@pytest.mark.parametrize("value", ["-1", "ten", "1.5", "1e3"])
def test_a_bad_seed_base_says_what_it_must_be(monkeypatch, value):
    monkeypatch.setenv("DLCOURSE_SEED_BASE", value)
    with pytest.raises(ValueError, match="DLCOURSE_SEED_BASE=.*whole number >= 0"):
        fastmode.seeds(2)
