"""dlcourse.training: the fit loop, evaluate and History."""
import math

import pytest
import torch
from torch import nn

from dlcourse.data import TensorData, TensorLoader
from dlcourse.training import History, evaluate, fit

RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


def blobs(n_per_class=100, seed=0):
    """Two well separated 2-D Gaussian blobs, labels 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n_per_class, 2, generator=g) * 0.5 + torch.tensor([-2.0, -2.0])
    x1 = torch.randn(n_per_class, 2, generator=g) * 0.5 + torch.tensor([2.0, 2.0])
    x = torch.cat([x0, x1])
    y = torch.cat([torch.zeros(n_per_class, dtype=torch.int64), torch.ones(n_per_class, dtype=torch.int64)])
    return TensorData(x, y)


def small_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def loaders(batch_size=32):
    return (TensorLoader(blobs(seed=0), batch_size=batch_size, seed=0),
            TensorLoader(blobs(seed=1), batch_size=64, shuffle=False))


def make_history(**columns):
    n = len(next(iter(columns.values())))
    records = [{"epoch": i + 1, **{k: v[i] for k, v in columns.items()}} for i in range(n)]
    return History(records=records)


# --- fit ---------------------------------------------------------------------------------------

def test_fit_learns_a_separable_problem():
    model = small_model()
    train_loader, val_loader = loaders()
    history = fit(model, train_loader, val_loader, epochs=8,
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.02), progress=False)
    assert len(history) == 8
    assert history["epoch"] == list(range(1, 9))
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_acc"][-1] >= 0.97
    assert history["train_acc"][-1] >= 0.97
    assert not history.stopped_early
    assert model.training  # fit leaves the model in training mode, as it trained it


def test_fit_record_keys_and_types():
    model = small_model()
    train_loader, val_loader = loaders()
    history = fit(model, train_loader, val_loader, epochs=2,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    for record in history.records:
        assert set(record) == RECORD_KEYS
        assert all(isinstance(record[k], float) for k in RECORD_KEYS - {"epoch"})
        assert 0.0 <= record["train_acc"] <= 1.0 and 0.0 <= record["val_acc"] <= 1.0
        assert record["seconds"] >= 0.0
        assert record["lr"] == 0.1
    assert set(history.metrics) == RECORD_KEYS


def test_fit_without_validation_has_no_val_metrics():
    model = small_model()
    train_loader, _ = loaders()
    history = fit(model, train_loader, epochs=1,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert set(history.records[0]) == RECORD_KEYS - {"val_loss", "val_acc"}
    with pytest.raises(KeyError):
        history["val_loss"]


def test_train_metrics_are_size_weighted_means_over_batches():
    """With lr=0 the weights never change, so the epoch's training metrics equal evaluate's,
    including the short last batch (23 = 5 + 5 + 5 + 5 + 3)."""
    model = small_model()
    data = blobs(n_per_class=12)
    data = TensorData(data.images[:23], data.labels[:23])
    loader = TensorLoader(data, batch_size=5, seed=0)
    expected_loss, expected_acc = evaluate(model, TensorLoader(data, batch_size=23, shuffle=False))
    history = fit(model, loader, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                  progress=False)
    assert history["train_loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    assert history["train_acc"][0] == expected_acc


def test_fit_is_reproducible():
    runs = []
    for _ in range(2):
        model = small_model(seed=3)
        train_loader, val_loader = loaders()
        history = fit(model, train_loader, val_loader, epochs=3,
                      optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
        runs.append([(r["train_loss"], r["val_loss"], r["val_acc"]) for r in history.records])
    assert runs[0] == runs[1]


def test_steplr_changes_recorded_lr_per_epoch():
    model = small_model()
    train_loader, val_loader = loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    history = fit(model, train_loader, val_loader, epochs=5, optimizer=optimizer,
                  scheduler=scheduler, progress=False)
    # The lr recorded for an epoch is the one that epoch trained with; the scheduler steps after it.
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)  # 5 steps: 0.1 * 0.5 ** (5 // 2)


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, metrics, *args, **kwargs):
        self.seen.append(float(metrics))
        return super().step(metrics, *args, **kwargs)


def test_reduce_on_plateau_gets_the_validation_loss():
    model = small_model()
    train_loader, val_loader = loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = RecordingPlateau(optimizer, patience=0)
    history = fit(model, train_loader, val_loader, epochs=3, optimizer=optimizer,
                  scheduler=scheduler, progress=False)
    assert scheduler.seen == history["val_loss"]
    assert scheduler.seen != history["train_loss"]


def test_reduce_on_plateau_without_validation_gets_the_training_loss():
    model = small_model()
    train_loader, _ = loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = RecordingPlateau(optimizer, patience=0)
    history = fit(model, train_loader, epochs=3, optimizer=optimizer, scheduler=scheduler, progress=False)
    assert scheduler.seen == history["train_loss"]


def test_reduce_on_plateau_lowers_lr_when_validation_loss_stalls():
    """Frozen network: the validation loss is flat, so a patience-0 plateau scheduler halves the
    lr after every epoch but the first (the recorded lr is the one used during the epoch)."""
    inner = small_model()
    for p in inner.parameters():
        p.requires_grad_(False)

    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
            self.unused = nn.Parameter(torch.zeros(()))  # the optimizer needs a parameter

        def forward(self, x):
            return self.inner(x) + 0 * self.unused  # keeps a graph so backward() works

    model = Frozen()
    optimizer = torch.optim.SGD([model.unused], lr=1.0)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    train_loader, val_loader = loaders()
    history = fit(model, train_loader, val_loader, epochs=4, optimizer=optimizer,
                  scheduler=scheduler, progress=False)
    assert len(set(history["val_loss"])) == 1
    assert history["lr"] == pytest.approx([1.0, 1.0, 0.5, 0.25])


# --- early stopping ----------------------------------------------------------------------------

class StopAt:
    def __init__(self, epoch):
        self.epoch = epoch
        self.calls = []

    def __call__(self, val_loss, model):
        self.calls.append((val_loss, model))
        return len(self.calls) >= self.epoch


def test_early_stopping_stops_after_the_epoch_it_says_so():
    model = small_model()
    train_loader, val_loader = loaders()
    stopper = StopAt(3)
    history = fit(model, train_loader, val_loader, epochs=10, early_stopping=stopper,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert len(history) == 3
    assert history["epoch"] == [1, 2, 3]
    assert history.stopped_early is True
    assert [loss for loss, _ in stopper.calls] == history["val_loss"]
    assert all(m is model for _, m in stopper.calls)


def test_early_stopping_that_never_fires():
    model = small_model()
    train_loader, val_loader = loaders()
    stopper = StopAt(100)
    history = fit(model, train_loader, val_loader, epochs=4, early_stopping=stopper,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert len(history) == 4 and len(stopper.calls) == 4
    assert history.stopped_early is False


def test_early_stopping_needs_a_validation_loader():
    model = small_model()
    train_loader, _ = loaders()
    with pytest.raises(ValueError, match="val"):
        fit(model, train_loader, epochs=3, early_stopping=StopAt(1),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_must_be_positive(epochs):
    model = small_model()
    train_loader, val_loader = loaders()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="epochs"):
        fit(model, train_loader, val_loader, epochs=epochs,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_empty_training_loader_raises():
    model = small_model()
    with pytest.raises(ValueError):
        fit(model, [], epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


# --- progress ----------------------------------------------------------------------------------

def test_progress_bar_is_printed(capsys):
    model = small_model()
    train_loader, val_loader = loaders()
    fit(model, train_loader, val_loader, epochs=2, description="blobs-run",
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=True)
    err = capsys.readouterr().err
    assert "blobs-run" in err
    assert "2/2" in err
    assert "epoch" in err


def test_no_progress_prints_nothing(capsys):
    model = small_model()
    train_loader, val_loader = loaders()
    fit(model, train_loader, val_loader, epochs=2, description="blobs-run",
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# --- evaluate ----------------------------------------------------------------------------------

class Passthrough(nn.Module):
    """Returns its input as logits and records the mode and grad state it was called in."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return x * self.scale


def hand_made_batches():
    # Batch 1: 3 examples, 2 correct. Batch 2: 2 examples, 1 correct. Accuracy 3/5.
    x1 = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    y1 = torch.tensor([0, 1, 0])
    x2 = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    y2 = torch.tensor([1, 0])
    return [(x1, y1), (x2, y2)]


def test_evaluate_exact_accuracy_and_weighted_loss():
    batches = hand_made_batches()
    loss, acc = evaluate(Passthrough(), batches)
    assert acc == 3 / 5
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    expected = float(nn.functional.cross_entropy(x, y))  # mean over all 5 examples, not over batches
    assert loss == pytest.approx(expected, rel=1e-6)
    by_hand = sum(math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(x.tolist(), y.tolist())) / 5
    assert loss == pytest.approx(by_hand, rel=1e-6)


def test_evaluate_custom_loss_fn():
    loss, acc = evaluate(Passthrough(), hand_made_batches(), loss_fn=lambda logits, y: logits.sum() * 0 + 2.0)
    assert loss == pytest.approx(2.0)
    assert acc == 3 / 5


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_in_eval_mode_and_restores_the_mode(training):
    model = Passthrough()
    model.train(training)
    evaluate(model, hand_made_batches())
    assert model.training is training
    assert model.calls == [(False, False), (False, False)]


def test_evaluate_restores_mode_of_a_real_network():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    model.train()
    evaluate(model, hand_made_batches())
    assert all(m.training for m in model.modules())
    model.eval()
    evaluate(model, hand_made_batches())
    assert not any(m.training for m in model.modules())


def test_evaluate_does_not_change_the_weights_or_batchnorm_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    evaluate(model, hand_made_batches())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_evaluate_empty_loader_raises():
    with pytest.raises(ValueError):
        evaluate(Passthrough(), [])


# --- History -----------------------------------------------------------------------------------

def test_history_getitem_and_missing_metric():
    history = make_history(train_loss=[1.0, 0.5], val_acc=[0.6, 0.7])
    assert history["train_loss"] == [1.0, 0.5]
    assert history["epoch"] == [1, 2]
    assert history.last("val_acc") == 0.7
    assert len(history) == 2
    with pytest.raises(KeyError):
        history["missing"]
    with pytest.raises(KeyError):
        history["val_loss"]


def test_best_epoch_min_for_losses_max_for_accuracies():
    history = make_history(train_loss=[0.9, 0.5, 0.2, 0.1],
                           val_loss=[0.8, 0.4, 0.3, 0.6],
                           train_acc=[0.5, 0.7, 0.9, 0.95],
                           val_acc=[0.6, 0.9, 0.85, 0.8])
    assert history.best_epoch("val_loss") == 3
    assert history.best_epoch() == 3  # val_loss by default
    assert history.best_epoch("train_loss") == 4
    assert history.best_epoch("val_acc") == 2
    assert history.best_epoch("train_acc") == 4


def test_best_epoch_first_of_ties_and_epoch_numbers_not_positions():
    history = History(records=[{"epoch": 5, "val_loss": 0.3}, {"epoch": 6, "val_loss": 0.2},
                               {"epoch": 7, "val_loss": 0.2}])
    assert history.best_epoch("val_loss") == 6


def test_best_epoch_on_empty_history():
    with pytest.raises(ValueError):
        History().best_epoch("val_loss")


def test_best_epoch_of_a_fit_run():
    model = small_model()
    train_loader, val_loader = loaders()
    history = fit(model, train_loader, val_loader, epochs=4,
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.02), progress=False)
    losses = history["val_loss"]
    assert history.best_epoch("val_loss") == losses.index(min(losses)) + 1
    accs = history["val_acc"]
    assert history.best_epoch("val_acc") == accs.index(max(accs)) + 1


def test_evaluate_restores_each_submodules_mode_even_when_the_model_raises():
    import torch
    from torch import nn

    from dlcourse.training import evaluate

    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model.train()
    model[1].eval()  # a frozen BatchNorm inside a training model
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    evaluate(model, [(x, y)])
    assert model.training and model[0].training and not model[1].training

    class Exploding(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    broken = Exploding().train()
    try:
        evaluate(broken, [(x, y)])
    except RuntimeError:
        pass
    assert broken.training
