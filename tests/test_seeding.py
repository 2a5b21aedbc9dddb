"""dlcourse.seeding.seed_everything: every generator a run touches, seeded from one number."""
import random

import numpy as np
import pytest
import torch

from dlcourse.seeding import seed_everything


def draws(seed, **kwargs):
    generator = seed_everything(seed, **kwargs)
    return {
        "random": [random.random() for _ in range(3)],
        "numpy": np.random.rand(3).tolist(),
        "torch": torch.rand(3).tolist(),
        "torch_randperm": torch.randperm(10).tolist(),
        "generator": torch.rand(3, generator=generator).tolist(),
    }


def test_returns_a_torch_generator():
    assert isinstance(seed_everything(0), torch.Generator)


def test_same_seed_same_draws():
    first = draws(123)
    # Disturb every generator in between, so equality cannot come from untouched state.
    random.random(), np.random.rand(), torch.rand(1)
    second = draws(123)
    assert first == second


@pytest.mark.parametrize("source", ["random", "numpy", "torch", "torch_randperm", "generator"])
def test_different_seed_different_draws(source):
    assert draws(1)[source] != draws(2)[source]


def test_matches_seeding_each_library_directly():
    generator = seed_everything(7)
    got = (random.random(), float(np.random.rand()), torch.rand(2).tolist(), torch.rand(2, generator=generator).tolist())
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    expected_generator = torch.Generator().manual_seed(7)
    expected = (random.random(), float(np.random.rand()), torch.rand(2).tolist(),
                torch.rand(2, generator=expected_generator).tolist())
    assert got == expected


def test_large_seed_is_accepted():
    seed = 2**32 + 5  # beyond NumPy's legacy seed range
    assert draws(seed) == draws(seed)


@pytest.mark.parametrize("bad", [-1, -100, 1.0, 1.5, "3", None, True, False, np.float64(2.0)])
def test_rejects_bad_seeds(bad):
    with pytest.raises(ValueError):
        seed_everything(bad)


def test_deterministic_flag_sets_and_clears_torch_switch():
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        seed_everything(0)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
