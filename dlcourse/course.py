"""Facts about the course itself, kept in one place.

`GITHUB_REPOSITORY` is the one value a fork changes: the Colab badges and the Colab set-up cell
of every notebook, and the README's badges, are rewritten from it by `python -m autograder release`.
"""

GITHUB_REPOSITORY = "dlcourse-org/dl-training-techniques"
DEFAULT_BRANCH = "main"

CHAPTERS = {
    "00_setup": "Set-up and the MNIST baseline",
    "01_activations": "Activations: Sigmoid vs ReLU",
    "02_dropout": "Dropout (graded)",
    "03_batchnorm": "Batch normalization (graded)",
    "04_initialization": "Weight initialization and optimizers (graded)",
    "05_overfitting": "Overfitting detection: validation, early stopping, schedulers (graded)",
    "06_capstone": "Capstone ablation",
}


def clone_url(repository: str | None = None) -> str:
    """The https address `git clone` uses for the course (default: GITHUB_REPOSITORY)."""
    return f"https://github.com/{repository or GITHUB_REPOSITORY}.git"


def colab_url(notebook_path: str, repository: str | None = None, branch: str | None = None) -> str:
    """Open `notebook_path` (relative to the repository root) in Colab straight from GitHub."""
    return (f"https://colab.research.google.com/github/{repository or GITHUB_REPOSITORY}"
            f"/blob/{branch or DEFAULT_BRANCH}/{notebook_path}")
