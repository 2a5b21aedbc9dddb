"""Probes: measure what happens inside a network, without changing it.

Chapters 01 and 04 look inside an MLP to explain why it trains or not:
- `record_activations`: what each activation layer outputs on a batch (forward hooks);
- `layer_gradient_norms`: how large each layer's weight gradient is (the vanishing gradient);
- `dead_unit_fraction`: how many ReLU units output zero for every example (dead units).
A probe leaves the model as it found it: no hook stays registered, train/eval mode and the
parameters' `.grad` are untouched. (Like any forward pass, a probe of a model in training mode
does draw dropout masks and update BatchNorm running statistics; call `model.eval()` first if
that matters.)
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import nn

ACTIVATION_TYPES = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.GELU)


@contextlib.contextmanager
def _watch(model: nn.Module, layer_types: Sequence[type], keep_output: bool):
    """While inside, every module of `layer_types` that runs is appended (once, at its first call)
    to the yielded `order` list and, if asked, a detached copy of each output to `outputs`."""
    order: list[nn.Module] = []
    outputs: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if keep_output:
            outputs.append(output.detach().clone())
        if module not in order:
            order.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, tuple(layer_types))]
    try:
        yield order, outputs
    finally:
        for handle in handles:  # hooks must never outlive the probe, even when the forward pass fails
            handle.remove()


def record_activations(model: nn.Module, x: torch.Tensor,
                       layer_types: Sequence[type] = ACTIVATION_TYPES) -> list[torch.Tensor]:
    """Outputs of every module of `layer_types` in one forward pass on x, in forward order: to see what each layer passes on."""
    with torch.no_grad(), _watch(model, layer_types, keep_output=True) as (_, outputs):
        model(x)
    return outputs


def layer_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         loss_fn: Callable | None = None) -> list[float]:
    """L2 norm of each nn.Linear's weight gradient (input layer first) after one forward+backward on (x, y):
    to see where gradients vanish."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    with torch.enable_grad(), _watch(model, (nn.Linear,), keep_output=False) as (linears, _):
        loss = loss_fn(model(x), y)
    if not linears:
        raise ValueError("the model has no nn.Linear layer that ran in the forward pass")
    frozen = [i for i, m in enumerate(linears) if not m.weight.requires_grad]
    if frozen:
        raise ValueError(f"nn.Linear layers {frozen} (forward order) have weights with requires_grad=False")
    # autograd.grad returns the gradients instead of adding them to .grad, so the model's own
    # .grad (from a training step in progress, say) stays exactly as it was.
    grads = torch.autograd.grad(loss, [m.weight for m in linears], allow_unused=True)
    return [0.0 if g is None else float(g.norm()) for g in grads]


def dead_unit_fraction(activations: torch.Tensor) -> float:
    """Fraction of units (columns) that are zero for every example of the batch: a dead ReLU unit never passes a gradient."""
    if activations.dim() < 2 or activations.shape[0] == 0:
        raise ValueError(f"expected a batch of shape (N, units...) with N >= 1, got {tuple(activations.shape)}")
    per_unit = activations.detach().reshape(activations.shape[0], -1)
    dead = (per_unit == 0).all(dim=0)
    return float(dead.float().mean())
