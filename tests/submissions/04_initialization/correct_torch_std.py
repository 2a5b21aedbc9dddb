# Through the standard deviation, as torch.nn.init computes it; a loop for the receptive field;
# a float32 NumPy scalar and a 0-d torch tensor returned.
# %% fan_in_and_fan_out
def fan_in_and_fan_out(shape):
    if len(shape) < 2:
        raise ValueError("fan_in and fan_out need at least 2 dimensions")
    receptive_field = 1
    for size in shape[2:]:
        receptive_field *= size
    fan_in = shape[1] * receptive_field
    fan_out = shape[0] * receptive_field
    return fan_in, fan_out


# %% xavier_uniform_bound
import math

import numpy as np


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return np.float32(math.sqrt(3.0) * std)


# %% he_uniform_bound
import math

import torch


def he_uniform_bound(fan_in, gain=math.sqrt(2.0)):
    std = gain / math.sqrt(fan_in)
    return torch.sqrt(torch.tensor(3.0, dtype=torch.float64)) * std
