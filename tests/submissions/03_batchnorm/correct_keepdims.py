# Sample submission for chapter 03 (batch normalization), used by tests/test_checks_batchnorm.py.
# Correct: keepdims NumPy, backward through dvar and dmean; BatchNorm2d as (N, C, H*W); .data updates.

# %% batchnorm_forward
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    """keepdims style; the cache keeps x itself and recomputes what it needs."""
    mode = bn_param.get("mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    if mode == "train":
        n = x.shape[0]
        if n < 2:
            raise ValueError("batch of one")
        mean = np.mean(x, axis=0, keepdims=True)
        var = np.var(x, axis=0, keepdims=True)
        out = gamma * (x - mean) / np.sqrt(var + eps) + beta
        rm = bn_param["running_mean"] if "running_mean" in bn_param else np.zeros(x.shape[1], x.dtype)
        rv = bn_param["running_var"] if "running_var" in bn_param else np.ones(x.shape[1], x.dtype)
        bn_param["running_mean"] = rm + momentum * (mean[0] - rm)
        bn_param["running_var"] = rv + momentum * (var[0] * (n / (n - 1)) - rv)
        return out, {"x": x, "gamma": gamma, "eps": eps}
    if mode == "eval":
        rm = bn_param["running_mean"] if "running_mean" in bn_param else 0.0
        rv = bn_param["running_var"] if "running_var" in bn_param else 1.0
        return (x - rm) / np.sqrt(rv + eps) * gamma + beta, None
    raise ValueError(f"bad mode {mode}")


# %% batchnorm_backward
import numpy as np


def batchnorm_backward(dout, cache):
    """Through mean and variance explicitly: dvar and dmean, then dx."""
    x, gamma, eps = cache["x"], cache["gamma"], cache["eps"]
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * (x - mean), axis=0) * -0.5 * inv_std ** 3
    dmean = -np.sum(dx_hat * inv_std, axis=0) + dvar * -2.0 * np.mean(x - mean, axis=0)
    dx = dx_hat * inv_std + dvar * 2.0 * (x - mean) / n + dmean / n
    return dx, np.sum(dout * x_hat, axis=0), np.sum(dout, axis=0)


# %% BatchNorm1d
import torch
from torch import nn


def _bn_stats_1d(x, dims):
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    return mean, var


class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super(BatchNorm1d, self).__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.empty(num_features).fill_(1.0))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, input):
        dims = [0] + list(range(2, input.dim()))
        view = [1, -1] + [1] * (input.dim() - 2)
        if self.training:
            n = input.numel() // input.size(1)
            if n < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.size()}")
            mean, var = _bn_stats_1d(input, dims)
            self.running_mean.data = (1 - self.momentum) * self.running_mean + self.momentum * mean.detach().flatten()
            self.running_var.data = ((1 - self.momentum) * self.running_var
                                     + self.momentum * var.detach().flatten() * n / (n - 1))
            self.num_batches_tracked.data += 1
        else:
            mean, var = self.running_mean.view(view), self.running_var.view(view)
        return (input - mean) / (var + self.eps).sqrt() * self.weight.view(view) + self.bias.view(view)


# %% BatchNorm2d
import torch
from torch import nn


class BatchNorm2d(nn.Module):
    """(N, C, H, W) as (N, C, H*W): the same reductions as BatchNorm1d on (N, C, L)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        N, C, H, W = x.shape
        z = x.reshape(N, C, H * W)
        if self.training:
            n = N * H * W
            if n < 2:
                raise ValueError("Expected more than 1 value per channel when training")
            mean = z.mean(dim=(0, 2))
            var = z.var(dim=(0, 2), unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * n / (n - 1) * var)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        z = (z - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        z = z * self.weight[None, :, None] + self.bias[None, :, None]
        return z.reshape(N, C, H, W)
