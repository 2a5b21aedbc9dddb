"""Reproducibility: seed every random number generator a training run touches."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python's `random`, NumPy's global RNG and torch; return a torch.Generator seeded alike.

    With `deterministic=True` torch also refuses nondeterministic kernels, which costs speed and
    is only needed when two runs must agree bit for bit on every platform.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic)
    return torch.Generator().manual_seed(seed)
