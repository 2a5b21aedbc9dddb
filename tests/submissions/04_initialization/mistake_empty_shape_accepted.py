# One mistake: ValueError only for 1 dimension: the empty shape () raises IndexError instead.
# %% fan_in_and_fan_out
import math


def fan_in_and_fan_out(shape):
    shape = tuple(shape)
    if len(shape) == 1:
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
