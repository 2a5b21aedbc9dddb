# 0/1 integer masks from binomial / Bernoulli draws, and a precomputed scale factor.
# %% dropout_forward
import numpy as np


def dropout_forward(x, p, train=True, rng=None):
    if p < 0 or p > 1:
        raise ValueError("dropout probability has to be between 0 and 1, but got {}".format(p))
    if train is False:
        return x, None
    if rng is None:
        rng = np.random.default_rng()
    keep_prob = 1.0 - p
    mask = rng.binomial(1, keep_prob, size=np.shape(x))
    scale = 0.0 if keep_prob == 0 else 1.0 / keep_prob
    out = x * mask * scale
    return out, mask


# %% dropout_backward
import numpy as np


def dropout_backward(dout, mask, p):
    if mask is None:
        return dout.copy()
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return dout * mask * scale


# %% Dropout
import torch
import torch.nn as nn


class Dropout(nn.Module):
    def __init__(self, p: float = 0.5):
        super(Dropout, self).__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            keep_prob = 1.0 - self.p
            mask = torch.bernoulli(torch.full_like(x, keep_prob))
            scale = 0.0 if keep_prob == 0 else 1.0 / keep_prob
            return x * mask * scale
        return x
