# Sample submission for chapter 03 (batch normalization), used by tests/test_checks_batchnorm.py.
# Correct: staged computational-graph backward; BatchNorm2d via permute + reshape to (N*H*W, C); lerp_ updates.

# %% batchnorm_forward
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    # Step by step, keeping every intermediate of the computational graph for the backward pass.
    mode = bn_param["mode"]
    if mode not in ("train", "eval"):
        raise ValueError("mode must be 'train' or 'eval'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.1)
    N, D = x.shape
    if mode == "eval":
        rm = bn_param.get("running_mean", np.zeros(D))
        rv = bn_param.get("running_var", np.ones(D))
        return gamma * ((x - rm) / np.sqrt(rv + eps)) + beta, None
    if N < 2:
        raise ValueError("need N >= 2 in train mode")
    bn_param.setdefault("running_mean", np.zeros(D, dtype=x.dtype))
    bn_param.setdefault("running_var", np.ones(D, dtype=x.dtype))
    mu = np.sum(x, axis=0) / N
    xmu = x - mu
    sq = xmu ** 2
    var = np.sum(sq, axis=0) / N
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    bn_param["running_mean"] = (1 - momentum) * bn_param["running_mean"] + momentum * mu
    bn_param["running_var"] = (1 - momentum) * bn_param["running_var"] + momentum * np.var(x, axis=0, ddof=1)
    return out, (xhat, gamma, xmu, ivar, sqrtvar, var, eps)


# %% batchnorm_backward
import numpy as np


def batchnorm_backward(dout, cache):
    # Backpropagate through the graph node by node.
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar ** 2 * divar
    dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
    dsq = np.ones_like(dout) / N * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -np.sum(dx1, axis=0)
    dx2 = np.ones_like(dout) / N * dmu
    return dx1 + dx2, dgamma, dbeta


# %% BatchNorm1d
import torch
from torch import nn


class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        # (N, C, L) -> (N * L, C): every row is one sample of every channel.
        three_d = x.dim() == 3
        N = x.shape[0]
        flat = x.transpose(1, 2).reshape(-1, x.shape[1]) if three_d else x
        if self.training:
            n = flat.shape[0]
            if n <= 1:
                raise ValueError("Expected more than 1 value per channel when training")
            var, mean = torch.var_mean(flat, dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        y = (flat - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.reshape(N, -1, x.shape[1]).transpose(1, 2) if three_d else y


# %% BatchNorm2d
import torch
from torch import nn


class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        N, C, H, W = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(-1, C)          # (N*H*W, C): channels last
        if self.training:
            n = flat.shape[0]
            if n <= 1:
                raise ValueError("Expected more than 1 value per channel when training")
            var, mean = torch.var_mean(flat, dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        y = (flat - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.reshape(N, H, W, C).permute(0, 3, 1, 2)
