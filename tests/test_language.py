"""dlcourse.language: the Korean edition's figure labels and its font, found locally or installed on Colab."""
import sys

import matplotlib
import pytest

from dlcourse import language, plots


@pytest.fixture(autouse=True)
def english_afterwards(monkeypatch):
    """Each test leaves dlcourse in English and matplotlib's font as it found them."""
    monkeypatch.setattr(language, "_current", "en")
    monkeypatch.setitem(matplotlib.rcParams, "font.family", matplotlib.rcParams["font.family"])
    monkeypatch.setitem(matplotlib.rcParams, "axes.unicode_minus", matplotlib.rcParams["axes.unicode_minus"])


def test_korean_labels_dlcourse_figures_in_korean_with_a_font_that_draws_them(capsys):
    from matplotlib import font_manager

    if not language._font_files("NanumGothic"):
        pytest.skip("fonts-nanum is not installed (.ci/run installs it)")
    language.use("ko")
    assert "figure font NanumGothic" in capsys.readouterr().out
    assert language.word("validation") == "검증" and language.word("not in the table") == "not in the table"
    assert matplotlib.rcParams["font.family"] == ["NanumGothic"]
    assert font_manager.findfont("NanumGothic", fallback_to_default=False)

    from dlcourse.training import History

    history = History()
    history.records += [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4},
                        {"epoch": 2, "train_loss": 0.8, "train_acc": 0.6, "val_loss": 0.9, "val_acc": 0.5}]
    axes = plots.plot_learning_curves(history)
    assert axes[0].get_xlabel() == "에포크" and axes[1].get_title() == "학습 곡선: 정확도"
    assert [text.get_text() for text in axes[0].get_legend().get_texts()] == ["훈련", "검증"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Hangul letter missing from the font would warn here
        axes[0].figure.canvas.draw()
    matplotlib.pyplot.close("all")


def test_without_the_font_it_says_how_to_install_it_and_changes_no_font(monkeypatch, capsys):
    monkeypatch.setattr(language, "_font_files", lambda family: [])
    monkeypatch.setattr(language, "_known", lambda family: False)
    before = list(matplotlib.rcParams["font.family"])
    language.use("ko")
    said = capsys.readouterr().out
    assert "sudo apt-get install fonts-nanum" in said and "NanumGothic" in said
    assert list(matplotlib.rcParams["font.family"]) == before
    assert language.word("epoch") == "에포크"  # the labels are Korean all the same


def test_on_colab_the_font_is_installed_with_apt(monkeypatch, capsys):
    installed = []
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(language.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(language.subprocess, "run", lambda command, **kw: installed.append(command))
    monkeypatch.setattr(language, "_font_files", lambda family: [] if not installed else [])
    monkeypatch.setattr(language, "_known", lambda family: bool(installed))
    language.use("ko")
    assert installed == [["apt-get", "-qq", "install", "-y", "fonts-nanum"]]
    assert matplotlib.rcParams["font.family"] == ["NanumGothic"]


def test_an_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="no such language 'xx'"):
        language.use("xx")


def test_fastmode_describes_itself_in_korean_in_the_korean_edition(monkeypatch):
    from dlcourse import fastmode

    monkeypatch.setenv("DLCOURSE_FAST", "1")
    monkeypatch.setenv("DLCOURSE_SEED_BASE", "30")
    english = fastmode.describe()
    monkeypatch.setattr(language, "_current", "ko")
    korean = fastmode.describe()
    assert english.startswith("FAST mode") and "Seeds start at 30" in english
    assert korean.startswith("빠른 모드") and "시드는 30부터" in korean and str(fastmode.FAST_TRAIN_EXAMPLES) in korean
