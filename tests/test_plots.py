"""dlcourse.plots: every figure has a title, labelled axes and a legend; the statistics are right."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dlcourse.plots import mean_and_spread, plot_layer_histograms, plot_learning_curves, plot_runs  # noqa: E402
from dlcourse.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(val_acc, with_val=True):
    records = []
    for i, acc in enumerate(val_acc):
        record = {"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_acc": acc - 0.01}
        if with_val:
            record.update(val_loss=1.2 / (i + 1), val_acc=acc)
        record.update(lr=0.1, seconds=0.5)
        records.append(record)
    return History(records=records)


def assert_labelled(ax):
    assert ax.get_title().strip()
    assert ax.get_xlabel().strip()
    assert ax.get_ylabel().strip()
    assert ax.get_legend() is not None
    assert [t.get_text() for t in ax.get_legend().get_texts()]


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --- learning curves ---------------------------------------------------------------------------

def test_learning_curves():
    h = history([0.5, 0.7, 0.8])
    axes = plot_learning_curves(h, title="Run A")
    assert len(axes) == 2
    for ax in axes:
        assert_labelled(ax)
        assert ax.get_xlabel() == "epoch"
        assert ax.get_title().startswith("Run A")
        assert legend_texts(ax) == ["training", "validation"]
    loss_ax, acc_ax = axes
    assert "loss" in loss_ax.get_ylabel() and "acc" in acc_ax.get_ylabel()
    train_line, val_line = loss_ax.get_lines()
    assert list(train_line.get_xdata()) == [1, 2, 3]
    assert list(train_line.get_ydata()) == h["train_loss"]
    assert list(val_line.get_ydata()) == h["val_loss"]
    assert list(acc_ax.get_lines()[1].get_ydata()) == h["val_acc"]


def test_learning_curves_without_validation():
    axes = plot_learning_curves(history([0.5, 0.6], with_val=False))
    for ax in axes:
        assert_labelled(ax)
        assert legend_texts(ax) == ["training"]
        assert len(ax.get_lines()) == 1


def test_learning_curves_on_given_axes():
    fig, given = plt.subplots(1, 2)
    axes = plot_learning_curves(history([0.5]), axes=given)
    assert axes[0] is given[0] and axes[1] is given[1]
    assert len(given[0].get_lines()) == 2


def test_history_plot_method():
    axes = history([0.4, 0.6]).plot(title="via History")
    for ax in axes:
        assert_labelled(ax)
        assert ax.get_title().startswith("via History")


def test_learning_curves_empty_history():
    with pytest.raises(ValueError):
        plot_learning_curves(History())


# --- mean_and_spread ---------------------------------------------------------------------------

def test_mean_and_spread_known_numbers():
    runs = [history([0.1, 0.2, 0.3]), history([0.3, 0.4, 0.5]), history([0.2, 0.6, 0.1])]
    mean, spread = mean_and_spread(runs, "val_acc")
    np.testing.assert_allclose(mean, [0.2, 0.4, 0.3])
    np.testing.assert_allclose(spread, [0.1, 0.2, 0.2])  # sample std (ddof=1)


def test_mean_and_spread_runs_of_different_length():
    runs = [history([0.1, 0.2, 0.3, 0.9]), history([0.3, 0.4])]
    mean, spread = mean_and_spread(runs, "val_acc")
    assert mean.shape == spread.shape == (2,)
    np.testing.assert_allclose(mean, [0.2, 0.3])
    np.testing.assert_allclose(spread, [np.sqrt(0.02), np.sqrt(0.02)])


def test_mean_and_spread_single_run():
    mean, spread = mean_and_spread([history([0.1, 0.5])], "val_acc")
    np.testing.assert_allclose(mean, [0.1, 0.5])
    np.testing.assert_array_equal(spread, [0.0, 0.0])


def test_mean_and_spread_other_metric():
    mean, _ = mean_and_spread([history([0.1, 0.5]), history([0.2, 0.4])], "train_loss")
    np.testing.assert_allclose(mean, [1.0, 0.5])


def test_mean_and_spread_empty():
    with pytest.raises(ValueError):
        mean_and_spread([], "val_acc")


def test_mean_and_spread_missing_metric():
    with pytest.raises(KeyError):
        mean_and_spread([history([0.1])], "no_such_metric")


# --- plot_runs ---------------------------------------------------------------------------------

def test_plot_runs():
    runs = {"relu": [history([0.5, 0.7]), history([0.6, 0.8])],
            "sigmoid": [history([0.2, 0.3]), history([0.25, 0.35]), history([0.3, 0.4])]}
    ax = plot_runs(runs, metric="val_acc")
    assert_labelled(ax)
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "val acc"
    assert legend_texts(ax) == ["relu (n=2)", "sigmoid (n=3)"]
    relu_line, sigmoid_line = ax.get_lines()
    np.testing.assert_allclose(relu_line.get_ydata(), [0.55, 0.75])
    np.testing.assert_allclose(sigmoid_line.get_ydata(), [0.25, 0.35])
    assert list(relu_line.get_xdata()) == [1, 2]
    assert len(ax.collections) == 2  # one spread band per setting


def test_plot_runs_title_and_given_axes():
    fig, given = plt.subplots()
    ax = plot_runs({"a": [history([0.1, 0.2])]}, metric="train_loss", title="My title", ax=given)
    assert ax is given
    assert ax.get_title() == "My title"
    assert ax.get_ylabel() == "train loss"


def test_plot_runs_empty_setting():
    with pytest.raises(ValueError):
        plot_runs({"a": []})


def test_plot_runs_no_settings():
    """An empty mapping must be an error like every other empty input, not a blank figure."""
    with pytest.raises(ValueError):
        plot_runs({})


# --- plot_layer_histograms ---------------------------------------------------------------------

def test_layer_histograms():
    torch.manual_seed(0)
    values = {"layer1": torch.randn(1000), "layer2": torch.randn(20, 50) * 3, "layer3": np.ones(10)}
    axes = plot_layer_histograms(values, title="Activations", xlabel="activation")
    assert len(axes) == 3
    assert [ax.get_title() for ax in axes] == ["layer1", "layer2", "layer3"]
    for ax in axes:
        assert ax.get_xlabel() == "activation"
        assert ax.get_legend() is not None
        assert legend_texts(ax)[0].startswith("std ")
    assert axes[0].get_ylabel() == "count"  # shared y axis: labelled once, on the left
    assert axes[0].figure.get_suptitle() == "Activations"
    assert_labelled(axes[0])
    # Every example is counted once in its layer's histogram.
    assert sum(p.get_height() for p in axes[0].patches) == 1000
    assert sum(p.get_height() for p in axes[1].patches) == 1000
    assert legend_texts(axes[2]) == ["std 0"]


def test_layer_histograms_share_the_x_range():
    values = {"a": torch.tensor([0.0, 1.0]), "b": torch.tensor([-5.0, 5.0])}
    axes = plot_layer_histograms(values, bins=10)
    for ax in axes:
        lefts = [p.get_x() for p in ax.patches]
        assert min(lefts) == pytest.approx(-5.0)
        assert max(p.get_x() + p.get_width() for p in ax.patches) == pytest.approx(5.0)


def test_layer_histograms_accept_tensors_with_grad():
    weight = torch.randn(5, 5, requires_grad=True)
    axes = plot_layer_histograms({"w": weight})
    assert axes[0].get_title() == "w"


def test_layer_histograms_empty():
    with pytest.raises(ValueError):
        plot_layer_histograms({})
