"""Closeness: named tolerances, and the one comparison every check uses.

A tolerance is chosen once per kind of value (a chapter names its own, e.g. `FORMULA`), never
written inline at a comparison, so the reader sees why a value may differ and by how much.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """|actual - expected| <= atol + rtol * |expected|, element by element.

    With `scaled`, atol is relative to the size of the expected values (1 + max |expected|), so
    large values get the same relative slack as small ones.
    """

    rtol: float
    atol: float = 0.0
    scaled: bool = False

    def looser(self, factor: float) -> Tolerance:
        """The same tolerance `factor` times wider (for values computed through more operations)."""
        return replace(self, rtol=self.rtol * factor, atol=self.atol * factor)


@dataclass(frozen=True)
class PerDtype:
    """One tolerance per floating-point precision: float64 values must agree far more closely."""

    float32: Tolerance
    float64: Tolerance

    def __call__(self, dtype) -> Tolerance:
        return self.float64 if np.dtype(dtype) == np.float64 else self.float32


def close(actual, expected, tolerance: Tolerance) -> bool:
    """Whether `actual` (numbers or an array) is `expected` within `tolerance`: same shape, finite, close."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or not (_numeric(actual) and _numeric(expected)):
        return False
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    atol = tolerance.atol
    if tolerance.scaled:
        atol *= 1.0 + (float(np.max(np.abs(expected))) if expected.size else 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.isfinite(actual)) and np.allclose(actual, expected, rtol=tolerance.rtol, atol=atol))


def _numeric(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
