"""Fast mode: one switch, `DLCOURSE_FAST=1`, that shrinks data and epochs for CI and quick checks.

Every notebook asks this module how big to make a run, so the sizes live here and nowhere else.
Students run without the variable and get the full experiments.

It also decides which seeds an experiment repeats over: 0, 1, 2, ... by default, or from another
start with `DLCOURSE_SEED_BASE=10` (10, 11, 12, ...), so anyone can check that a chapter's claims
hold for other seeds than the ones it was written with.
"""
from __future__ import annotations

import os

ENV_VAR = "DLCOURSE_FAST"
SEED_BASE_VAR = "DLCOURSE_SEED_BASE"

# Sizes used in fast mode. Full mode uses whatever the notebook asks for.
FAST_TRAIN_EXAMPLES = 5_000
FAST_TEST_EXAMPLES = 1_000
FAST_MAX_EPOCHS = 2
FAST_MAX_SEEDS = 2


def enabled() -> bool:
    """True when DLCOURSE_FAST is set to 1/true/yes (any case)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, fast):
    """Return `fast` in fast mode and `full` otherwise: for anything not covered below."""
    return fast if enabled() else full


def epochs(full: int) -> int:
    """Epoch budget: `full`, capped at FAST_MAX_EPOCHS in fast mode."""
    return min(full, FAST_MAX_EPOCHS) if enabled() else full


def seed_base() -> int:
    """The first seed of every repeated experiment: DLCOURSE_SEED_BASE, 0 when unset."""
    text = os.environ.get(SEED_BASE_VAR, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{SEED_BASE_VAR}={text!r}: it must be a whole number >= 0, e.g. {SEED_BASE_VAR}=10")
    return int(text)


def seeds(full: int) -> list[int]:
    """Seeds to repeat an experiment over: `full` of them (at most FAST_MAX_SEEDS in fast mode), from seed_base()."""
    count = min(full, FAST_MAX_SEEDS) if enabled() else full
    return list(range(seed_base(), seed_base() + count))


def train_examples() -> int | None:
    """How many training images to use: None (all of them) in full mode."""
    return FAST_TRAIN_EXAMPLES if enabled() else None


def test_examples() -> int | None:
    """How many test images to use: None (all of them) in full mode."""
    return FAST_TEST_EXAMPLES if enabled() else None


def describe() -> str:
    """One line for a notebook to print, so a reader knows which mode (and seeds) produced its numbers."""
    from dlcourse import language

    if language.current() == "ko":  # the Korean edition (language.use("ko"))
        seeded = f" 시드는 {seed_base()}부터 시작합니다({SEED_BASE_VAR})." if seed_base() else ""
        if enabled():
            return (f"빠른 모드({ENV_VAR}=1): 훈련 이미지 {FAST_TRAIN_EXAMPLES}장, 최대 {FAST_MAX_EPOCHS} 에포크. "
                    f"전체 실험을 하려면 {ENV_VAR}를 지우세요.{seeded}")
        return f"전체 모드: MNIST 전체와 원래의 에포크 예산.{seeded}"
    seeded = f" Seeds start at {seed_base()} ({SEED_BASE_VAR})." if seed_base() else ""
    if enabled():
        return (f"FAST mode ({ENV_VAR}=1): {FAST_TRAIN_EXAMPLES} training images, "
                f"at most {FAST_MAX_EPOCHS} epochs. Unset {ENV_VAR} for the full experiments.{seeded}")
    return f"Full mode: all of MNIST and the full epoch budgets.{seeded}"
