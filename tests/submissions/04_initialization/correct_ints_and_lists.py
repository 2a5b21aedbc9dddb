# A list for the pair, and ints where a bound happens to be a whole number: numbers of any type pass.
# %% fan_in_and_fan_out
import math


def fan_in_and_fan_out(shape):
    if len(shape) < 2:
        raise ValueError("need at least 2 dimensions")
    out_features, in_features, *kernel = shape
    return [in_features * math.prod(kernel), out_features * math.prod(kernel)]


# %% xavier_uniform_bound
import math


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    bound = gain * (6 / (fan_in + fan_out)) ** 0.5
    return int(bound) if float(bound).is_integer() else bound


# %% he_uniform_bound
import math


def he_uniform_bound(fan_in, gain=math.sqrt(2.0)):
    bound = (3 * gain**2 / fan_in) ** 0.5
    return int(bound) if float(bound).is_integer() else bound
