# One mistake: the shape must be a tuple: a list (any other sequence of ints) raises TypeError.
# %% fan_in_and_fan_out
import math


def fan_in_and_fan_out(shape):
    if not isinstance(shape, tuple):
        raise TypeError(f"shape must be a tuple, got {type(shape).__name__}")
    if len(shape) < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])  # 1 for a Linear weight
    return shape[1] * receptive_field, shape[0] * receptive_field


# %% xavier_uniform_bound
import math


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


# %% he_uniform_bound
import math


def he_uniform_bound(fan_in, gain=math.sqrt(2.0)):
    return gain * math.sqrt(3.0 / fan_in)
