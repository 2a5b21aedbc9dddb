# Sample submission for chapter 03 (batch normalization), used by tests/test_checks_batchnorm.py.
# Mistake: The modules refuse a batch of one example (N < 2) even when each channel has several values (N * L, N * H * W).

# %% batchnorm_forward
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of x, an array of shape (N, D), in NumPy.

    gamma, beta: arrays of shape (D,), the scale and the shift.
    bn_param: a dict with
      - "mode": "train" or "eval" (anything else: ValueError),
      - optional "eps" (default 1e-5) and "momentum" (default 0.1),
      - optional "running_mean" (zeros if absent) and "running_var" (ones if absent).
    Train mode normalizes with the batch mean and the biased batch variance, and writes the updated
    running statistics back into bn_param (running_var with the unbiased variance); N < 2 is a
    ValueError. Eval mode normalizes with the running statistics and changes nothing in bn_param.
    Returns (out, cache): out has x's shape; cache holds whatever batchnorm_backward needs.
    """
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(d, dtype=x.dtype))
    if mode == "train":
        if n < 2:
            raise ValueError(f"train mode needs at least 2 examples per batch, got {n}")
        mean = x.mean(axis=0)
        centered = x - mean
        var = (centered ** 2).mean(axis=0)          # biased: divided by N
        std = np.sqrt(var + eps)                    # eps inside the square root
        x_hat = centered / std
        out = gamma * x_hat + beta
        bn_param["running_mean"] = (1 - momentum) * running_mean + momentum * mean
        bn_param["running_var"] = (1 - momentum) * running_var + momentum * var * n / (n - 1)
        cache = (x_hat, gamma, std)
    elif mode == "eval":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        raise ValueError(f"unknown mode {mode!r}: use 'train' or 'eval'")
    return out, cache


# %% batchnorm_backward
import numpy as np


def batchnorm_backward(dout, cache):
    """Gradients of batch normalization in train mode.

    dout: the upstream gradient, shape (N, D); cache: what batchnorm_forward returned.
    Returns (dx, dgamma, dbeta) with the shapes of x, gamma and beta.
    """
    x_hat, gamma, std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = (gamma / std) / n * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


# %% BatchNorm1d
import torch
from torch import nn


class BatchNorm1d(nn.Module):
    """Batch normalization of (N, C) or (N, C, L) inputs; behaves exactly like torch.nn.BatchNorm1d.

    Parameters: weight (ones) and bias (zeros), shape (C,).
    Buffers: running_mean (zeros), running_var (ones), num_batches_tracked (0, a long tensor).
    Statistics per channel over N (and L). Train mode: one value per channel is a ValueError.
    Must not call torch.nn.functional.batch_norm or any torch.nn norm module.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if x.dim() not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}) or (N, {self.num_features}, L), got {tuple(x.shape)}")
        dims = (0,) if x.dim() == 2 else (0, 2)
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)
        if self.training:
            count = x.numel() // x.shape[1]        # values per channel
            if x.shape[0] < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
            mean = x.mean(dim=dims)
            var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)   # biased
            with torch.no_grad():
                m = self.momentum
                self.running_mean.copy_((1 - m) * self.running_mean + m * mean)
                self.running_var.copy_((1 - m) * self.running_var + m * var * count / (count - 1))
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)


# %% BatchNorm2d
import torch
from torch import nn


class BatchNorm2d(nn.Module):
    """Batch normalization of (N, C, H, W) inputs; behaves exactly like torch.nn.BatchNorm2d.

    The same parameters and buffers as BatchNorm1d; statistics per channel over N, H and W.
    Must not call torch.nn.functional.batch_norm or any torch.nn norm module.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}, H, W), got {tuple(x.shape)}")
        dims, shape = (0, 2, 3), (1, -1, 1, 1)
        if self.training:
            count = x.numel() // x.shape[1]        # N * H * W values per channel
            if x.shape[0] < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
            mean = x.mean(dim=dims)
            var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)   # biased
            with torch.no_grad():
                m = self.momentum
                self.running_mean.copy_((1 - m) * self.running_mean + m * mean)
                self.running_var.copy_((1 - m) * self.running_var + m * var * count / (count - 1))
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)
