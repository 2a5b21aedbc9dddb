"""dlcourse.widgets: a static figure always, controls only in a live kernel."""
import ipywidgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dlcourse import widgets  # noqa: E402


def test_explore_draws_the_defaults_once_without_a_kernel(monkeypatch):
    calls = []

    def draw(depth, activation, rate):
        calls.append((depth, activation, rate))
        plt.figure()

    monkeypatch.setattr(plt, "show", lambda: None)
    widgets.explore(draw, depth=(2, 12, 1), activation=["relu", "sigmoid"], rate=ipywidgets.FloatSlider(value=0.3))
    assert calls == [(7, "relu", 0.3)]
    assert not widgets.live_kernel()  # pytest is no Jupyter kernel
    plt.close("all")


def test_explore_with_controls_redraws_only_on_change(monkeypatch):
    calls = []
    shown = []
    monkeypatch.setattr(plt, "show", lambda: None)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append(a))
    created = {}
    real_interact = ipywidgets.interact

    def interact(fn, **controls):
        created["widget"] = real_interact(fn, **controls)
        return created["widget"]

    monkeypatch.setattr(ipywidgets, "interact", interact)
    widgets.explore(lambda p: calls.append(p), interactive=True, p=(0.0, 0.8, 0.1))
    assert calls == [pytest.approx(0.4)]  # the static figure; interact's own first draw is skipped
    slider = created["widget"].widget.children[0]
    slider.value = 0.7
    assert calls[-1] == pytest.approx(0.7)
    assert len(calls) == 2


def test_defaults_follow_interact_conventions():
    assert widgets._default((1, 9)) == 5
    assert widgets._default((0.0, 1.0, 0.1)) == 0.5
    assert widgets._default([("ReLU", "relu"), ("Sigmoid", "sigmoid")]) == "relu"
    assert widgets._default(ipywidgets.IntSlider(value=3)) == 3
    assert widgets._default(True) is True
