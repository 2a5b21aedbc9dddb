# NumPy style: np.prod(()) is 1.0, so a Linear weight gets float fans; NumPy scalars returned.
# %% fan_in_and_fan_out
import numpy as np


def fan_in_and_fan_out(shape):
    dims = np.asarray(shape, dtype=np.int64)
    if dims.ndim != 1 or dims.size < 2:
        raise ValueError("a weight needs at least two dimensions")
    receptive_field = np.prod(tuple(shape)[2:])  # 1.0, a float, for a Linear weight
    return dims[1] * receptive_field, dims[0] * receptive_field


# %% xavier_uniform_bound
import numpy as np


def xavier_uniform_bound(fan_in, fan_out, gain=1.0):
    variance = gain**2 * 2.0 / (fan_in + fan_out)
    return np.sqrt(3.0 * variance)


# %% he_uniform_bound
import numpy as np


def he_uniform_bound(fan_in, gain=np.sqrt(2.0)):
    variance = gain**2 / fan_in
    return np.sqrt(3.0 * variance)
