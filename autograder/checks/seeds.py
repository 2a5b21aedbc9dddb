"""Fresh seeds: where the hidden checks' inputs come from, and how grading makes them reproducible.

The grader seeds every generator per submission and test (`seed_everything`), then each hidden
check draws its inputs from `fresh_rng()` and any seed it hands on from `fresh_seed`; so grading
again gives the same inputs and scores, while in a notebook every run draws new ones.
"""
from __future__ import annotations

import random

import numpy as np

SEED_LIMIT = 2**31 - 1  # fresh seeds lie in [0, SEED_LIMIT): valid for NumPy, torch and Python alike


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's generators from one (possibly large) integer."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fresh_rng() -> np.random.Generator:
    """The generator a hidden check draws its fresh inputs from, seeded from NumPy's global one."""
    return np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint64))


def fresh_seed(rng: np.random.Generator) -> int:
    """A new seed drawn from `rng`, for a generator the student's code or torch will build."""
    return int(rng.integers(0, SEED_LIMIT))
