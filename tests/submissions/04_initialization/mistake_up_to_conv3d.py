# One mistake: only Linear and Conv1d to Conv3d weights: 6 or more dimensions raise ValueError.
# %% fan_in_and_fan_out
def fan_in_and_fan_out(shape):
    shape = tuple(shape)
    if len(shape) == 2:
        receptive_field = 1
    elif len(shape) == 3:
        receptive_field = shape[2]
    elif len(shape) == 4:
        receptive_field = shape[2] * shape[3]
    elif len(shape) == 5:
        receptive_field = shape[2] * shape[3] * shape[4]
    else:
        raise ValueError(f"unsupported weight shape {shape}")
    return shape[1] * receptive_field, shape[0] * receptive_field


# %% xavier_uniform_bound
import math


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


# %% he_uniform_bound
import math


def he_uniform_bound(fan_in, gain=math.sqrt(2.0)):
    return gain * math.sqrt(3.0 / fan_in)
