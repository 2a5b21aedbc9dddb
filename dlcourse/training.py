"""The training loop the chapters share: `fit` trains, validates and records a `History`.

Conventions (the same as Keras' `model.fit`): the training loss and accuracy of an epoch are
averaged over its batches while the weights change and with dropout active; the validation
metrics are computed after the epoch in eval mode, without gradients.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from dlcourse.language import word


@dataclass
class History:
    """Per-epoch records of one `fit` run: epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds."""

    records: list[dict] = field(default_factory=list)
    stopped_early: bool = False

    def __getitem__(self, metric: str) -> list[float]:
        """`history["val_acc"]` is that metric's list over epochs."""
        if self.records and metric not in self.records[0]:
            raise KeyError(f"no metric {metric!r}; this history has {sorted(self.records[0])}")
        return [record[metric] for record in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def metrics(self) -> list[str]:
        return list(self.records[0]) if self.records else []

    def best_epoch(self, metric: str = "val_loss") -> int:
        """The (1-based) epoch where `metric` was best: lowest for losses, highest otherwise."""
        values = self[metric]
        if not values:
            raise ValueError("the history is empty: fit ran no epoch")
        pick = min if "loss" in metric else max
        return self["epoch"][values.index(pick(values))]

    def last(self, metric: str) -> float:
        return self[metric][-1]

    def plot(self, title: str = "Learning curves", axes=None):
        """Loss and accuracy, train vs validation, over epochs; returns the matplotlib axes."""
        from dlcourse.plots import plot_learning_curves

        return plot_learning_curves(self, title=title, axes=axes)


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of `model` over `loader`, in eval mode and without gradients.

    Every submodule's train/eval mode is restored afterwards (even if something raises), so
    this is safe to call mid-training.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    modes = {module: module.training for module in model.modules()}
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        with torch.inference_mode():
            for x, y in loader:
                logits = model(x)
                total_loss += float(loss_fn(logits, y)) * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
                count += len(y)
    finally:
        for module, training in modes.items():
            module.training = training
    if count == 0:
        raise ValueError("the loader produced no examples")
    return total_loss / count, correct / count


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, loss_fn: Callable | None = None,
        scheduler=None, early_stopping: Callable | None = None, progress: bool = True,
        description: str = "training") -> History:
    """Train `model` for up to `epochs` epochs and return its History.

    scheduler: stepped once per epoch, after validation; a ReduceLROnPlateau gets the
        validation loss (the training loss when there is no validation loader).
    early_stopping: called as `early_stopping(val_loss, model)` after each epoch; returning
        True stops training (it may restore the best weights itself). Needs `val_loader`.
    progress: a tqdm bar over epochs and one over the batches of the current epoch; it renders
        as a widget in JupyterLab and as text lines in a terminal or log.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if early_stopping is not None and val_loader is None:
        raise ValueError("early stopping watches the validation loss: pass val_loader too")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history = History()
    epoch_bar = tqdm(range(1, epochs + 1), desc=word(description), unit="epoch", disable=not progress)
    for epoch in epoch_bar:
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = _train_one_epoch(model, train_loader, optimizer, loss_fn, progress, epoch)
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        if val_loader is not None:
            record["val_loss"], record["val_acc"] = evaluate(model, val_loader, loss_fn)
        record["lr"] = lr
        record["seconds"] = time.perf_counter() - started
        history.records.append(record)
        epoch_bar.set_postfix({k: round(v, 4) for k, v in record.items() if k in ("train_loss", "val_loss", "val_acc")})
        watched = record.get("val_loss", train_loss)
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(watched)
            else:
                scheduler.step()
        if early_stopping is not None and early_stopping(record["val_loss"], model):
            history.stopped_early = True
            break
    epoch_bar.close()
    return history


def _train_one_epoch(model, loader, optimizer, loss_fn, progress, epoch) -> tuple[float, float]:
    model.train()
    total_loss = torch.zeros(())
    correct = torch.zeros((), dtype=torch.int64)
    count = 0
    batches = tqdm(loader, desc=f"{word('epoch')} {epoch}", unit="batch", leave=False, disable=not progress)
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # accumulate as tensors: no Python float conversion per batch
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
        count += len(y)
    batches.close()
    if count == 0:
        raise ValueError("the training loader produced no examples")
    return float(total_loss) / count, int(correct) / count
