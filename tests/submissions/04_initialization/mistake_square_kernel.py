# One mistake: the kernel taken as square: the first kernel size raised to the number of kernel dimensions.
# %% fan_in_and_fan_out
import math


def fan_in_and_fan_out(shape):
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {shape}")
    receptive_field = shape[2] ** (len(shape) - 2) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


# %% xavier_uniform_bound
import math


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


# %% he_uniform_bound
import math


def he_uniform_bound(fan_in, gain=math.sqrt(2.0)):
    return gain * math.sqrt(3.0 / fan_in)
