# Float masks from uniform draws, np.where / torch.where, and a backward that fills kept entries.
# %% dropout_forward
import numpy as np


def dropout_forward(x, p, train=True, rng=None):
    if not (0 <= p <= 1):
        raise ValueError("p out of range")
    if train:
        generator = rng if rng is not None else np.random.default_rng()
        keep_prob = 1 - p
        mask = (generator.uniform(0.0, 1.0, size=x.shape) < keep_prob).astype(x.dtype)
        if keep_prob == 0:
            out = np.zeros_like(x)
        else:
            out = np.where(mask > 0, x / keep_prob, np.zeros_like(x))
        return out, mask
    else:
        out = x.copy()
        mask = None
        return out, mask


# %% dropout_backward
import numpy as np


def dropout_backward(dout, mask, p):
    if mask is None:
        return dout.copy()
    dx = np.zeros_like(dout)
    if p < 1:
        kept = mask.astype(bool)
        dx[kept] = dout[kept] / (1 - p)
    return dx


# %% Dropout
import torch
from torch import nn


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"p must lie in [0, 1], got {p!r}")
        self.p = p

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x):
        if not self.training:
            return x
        if self.p == 1:
            return x.mul(0)
        keep = torch.empty_like(x).uniform_() < 1 - self.p
        return torch.where(keep, x, torch.zeros_like(x)) / (1 - self.p)
