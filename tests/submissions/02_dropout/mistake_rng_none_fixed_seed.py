# Mistake: rng=None gives a generator with a fixed seed: the same mask on every call. (Otherwise correct_bool_mask.py.)
# %% dropout_forward
import numpy as np


def dropout_forward(x, p, train=True, rng=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    if not train:
        return x, None
    rng = np.random.default_rng(0) if rng is None else rng
    mask = rng.random(x.shape) >= p
    if p == 1.0:
        return np.zeros_like(x), mask
    return x * mask / (1.0 - p), mask


# %% dropout_backward
import numpy as np


def dropout_backward(dout, mask, p):
    if mask is None:
        return dout
    if p == 1.0:
        return np.zeros_like(dout)
    return dout * mask / (1.0 - p)


# %% Dropout
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        mask = torch.rand_like(x) >= self.p
        return x * mask / (1.0 - self.p)
