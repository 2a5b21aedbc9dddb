"""How values are written in a diagnosis: short enough to read, precise enough to compare."""
from __future__ import annotations

import numpy as np


def short(values, n: int = 3) -> str:
    """The first `n` values of an array, 4 significant digits: "[0.5, -1.25, 2, ...]"."""
    flat = np.asarray(values, dtype=float).ravel()[:n]
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ...]" if np.size(values) > n else "]")


def number(value: float) -> str:
    """A number to 6 significant digits, as a bound or a gain is shown: "0.0765466"."""
    return f"{value:.6g}"


def exact(value: float) -> str:
    """A number exactly as Python writes it (all its digits), NaN as "nan": for losses compared exactly."""
    return "nan" if value != value else repr(float(value))


def call(name: str, *args, **kwargs) -> str:
    """How a call is shown: `Dropout(0.3, inplace=False)`."""
    return f"{name}(" + ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]) + ")"
