"""Figures the chapters share. Each function draws on matplotlib axes and returns them,
with a title, labelled axes and a legend, so a notebook cell needs one line per figure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlcourse.language import word


def plot_learning_curves(history, title: str = "Learning curves", axes=None):
    """Loss (left) and accuracy (right) per epoch, training vs validation, for one History."""
    if len(history) == 0:
        raise ValueError("nothing to plot: the history has no epochs")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = history["epoch"]
    for ax, metric, label in ((axes[0], "loss", word("cross-entropy loss")), (axes[1], "acc", word("accuracy"))):
        ax.plot(epochs, history[f"train_{metric}"], marker="o", label=word("training"))
        if f"val_{metric}" in history.metrics:
            ax.plot(epochs, history[f"val_{metric}"], marker="s", label=word("validation"))
        ax.set_xlabel(word("epoch"))
        ax.set_ylabel(label)
        ax.set_title(f"{word(title)}: {label}")
        ax.legend()
        ax.grid(alpha=0.3)
    return axes


def mean_and_spread(histories: Sequence, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch mean and standard deviation of `metric` over several runs (e.g. seeds).

    Runs of different length (early stopping) are compared over the epochs all of them reached.
    """
    if not histories:
        raise ValueError("no runs given")
    length = min(len(h) for h in histories)
    values = np.array([h[metric][:length] for h in histories], dtype=float)
    spread = values.std(axis=0, ddof=1) if len(histories) > 1 else np.zeros(length)
    return values.mean(axis=0), spread


def plot_runs(runs: Mapping[str, Sequence], metric: str = "val_acc", title: str | None = None, ax=None):
    """Compare named settings, each run over several seeds: mean line with a +-1 std band."""
    if not runs:
        raise ValueError("no settings given: pass {name: [History, ...]}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for name, histories in runs.items():
        mean, spread = mean_and_spread(histories, metric)
        epochs = np.arange(1, len(mean) + 1)
        ax.plot(epochs, mean, marker="o", label=f"{name} (n={len(histories)})")
        ax.fill_between(epochs, mean - spread, mean + spread, alpha=0.2)
    ax.set_xlabel(word("epoch"))
    ax.set_ylabel(word(metric.replace("_", " ")))
    ax.set_title(title or f"{word(metric.replace('_', ' '))}: {word('mean and spread (+-1 std) over seeds')}")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_layer_histograms(values: Mapping[str, torch.Tensor], title: str = "Values per layer",
                          xlabel: str = "value", bins: int = 50, axes=None):
    """One histogram per layer (activations, gradients or weights), side by side on a shared x range."""
    if not values:
        raise ValueError("no layers given")
    arrays = {name: torch.as_tensor(v).detach().float().flatten().cpu().numpy() for name, v in values.items()}
    low = min(a.min() for a in arrays.values())
    high = max(a.max() for a in arrays.values())
    if axes is None:
        _, axes = plt.subplots(1, len(arrays), figsize=(2.6 * len(arrays), 2.8), sharey=True, squeeze=False)
        axes = axes[0]
    for ax, (name, array) in zip(axes, arrays.items()):
        ax.hist(array, bins=bins, range=(low, high) if high > low else None, label=f"{word('std')} {array.std():.3g}")
        ax.set_title(name)
        ax.set_xlabel(word(xlabel))
        ax.legend(fontsize="small")
    axes[0].set_ylabel(word("count"))
    axes[0].figure.suptitle(word(title))
    return axes
