"""dlcourse.course: the repository address, the Colab links and the chapter list."""
import re
from pathlib import Path

from dlcourse import course

ROOT = Path(__file__).resolve().parent.parent


def test_repository_is_owner_slash_name():
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", course.GITHUB_REPOSITORY)
    assert course.DEFAULT_BRANCH == "main"


def test_clone_url_default():
    assert course.clone_url() == f"https://github.com/{course.GITHUB_REPOSITORY}.git"
    assert course.clone_url() == "https://github.com/dlcourse-org/dl-training-techniques.git"


def test_clone_url_for_a_fork():
    assert course.clone_url("someone/fork") == "https://github.com/someone/fork.git"


def test_colab_url_default():
    assert course.colab_url("notebooks/00_setup/00_setup.ipynb") == (
        "https://colab.research.google.com/github/dlcourse-org/dl-training-techniques"
        "/blob/main/notebooks/00_setup/00_setup.ipynb")


def test_colab_url_for_a_fork_and_branch():
    assert course.colab_url("notebooks/02_dropout/02_dropout.ipynb", repository="me/copy", branch="dev") == (
        "https://colab.research.google.com/github/me/copy/blob/dev/notebooks/02_dropout/02_dropout.ipynb")


def test_colab_url_follows_the_repository_constant(monkeypatch):
    monkeypatch.setattr(course, "GITHUB_REPOSITORY", "org2/repo2")
    monkeypatch.setattr(course, "DEFAULT_BRANCH", "trunk")
    assert course.colab_url("a.ipynb") == "https://colab.research.google.com/github/org2/repo2/blob/trunk/a.ipynb"
    assert course.clone_url() == "https://github.com/org2/repo2.git"


def test_chapter_keys_have_the_form_nn_name():
    for key, title in course.CHAPTERS.items():
        assert re.fullmatch(r"\d\d_[a-z][a-z0-9_]*", key), key
        assert title.strip()


def test_chapters_are_numbered_00_to_06_in_order():
    numbers = [key[:2] for key in course.CHAPTERS]
    assert numbers == [f"{i:02d}" for i in range(7)]


def test_the_chapters_titled_graded_are_the_ones_the_grader_has_references_for():
    graded = [key for key, title in course.CHAPTERS.items() if "graded" in title.lower()]
    references = sorted(path.stem for path in (ROOT / "data" / "reference").glob("*.npz"))
    assert graded == references == ["02_dropout", "03_batchnorm", "04_initialization", "05_overfitting"]
