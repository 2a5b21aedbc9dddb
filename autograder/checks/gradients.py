"""Numerical gradients: the independent oracle for a student's backward pass."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, (f(x + h) - f(x - h)) / 2h, one element of x at a time.

    `x` is changed in place while this runs and restored after each element; pass a copy.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f(x)
        flat[i] = old - h
        minus = f(x)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad
