"""MNIST from the files shipped in data/mnist/, two ways.

The fast way (`load_mnist` + `TensorLoader`): all images live in one float tensor in memory and
a batch is a slice of a shuffled copy, so an epoch costs little more than the arithmetic.
The torchvision way (`torchvision_mnist`): the same images as a `torchvision.datasets.MNIST`
object, for use with `DataLoader` as most tutorials do; it decodes one PIL image per example.

Nothing is downloaded: a missing or corrupt file is an error naming the file and the command
that rebuilds it (`python data/build_mnist.py`).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_ENV_VAR = "DLCOURSE_DATA"
REBUILD_COMMAND = "python data/build_mnist.py"

FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# MD5 of each file's uncompressed bytes, as published with MNIST.
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# Mean and standard deviation of the training pixels (after /255), for standardizing inputs.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class MNISTFileError(RuntimeError):
    """A shipped MNIST file is missing or does not match its checksum."""


def data_dir() -> Path:
    """The folder holding mnist/: $DLCOURSE_DATA if set, else data/ beside this package."""
    override = os.environ.get(DATA_ENV_VAR)
    return Path(override) if override else Path(__file__).resolve().parent.parent / "data"


def read_idx(name: str, directory: Path | None = None) -> np.ndarray:
    """Read `<name>.gz` from data/mnist/, check its MD5 and decode the IDX format to a uint8 array."""
    path = (directory or data_dir() / "mnist") / f"{name}.gz"
    if not path.is_file():
        raise MNISTFileError(f"MNIST file not found: {path}. Rebuild it with `{REBUILD_COMMAND}` "
                             f"(or point ${DATA_ENV_VAR} at a folder holding mnist/).")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise MNISTFileError(f"MNIST file is not valid gzip: {path} ({exc}). "
                             f"Rebuild it with `{REBUILD_COMMAND}`.") from exc
    if hashlib.md5(raw).hexdigest() != MD5[name]:
        raise MNISTFileError(f"MNIST file is corrupt (MD5 mismatch): {path}. "
                             f"Rebuild it with `{REBUILD_COMMAND}`.")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(int(d) for d in dims))


@functools.lru_cache(maxsize=2)
def _raw_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded uint8 images (N, 28, 28) and int64 labels, read once per process."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = FILES[split]
    images = torch.from_numpy(read_idx(images_name).copy())
    labels = torch.from_numpy(read_idx(labels_name).astype(np.int64))
    return images, labels


@dataclass
class TensorData:
    """Images (N, 1, 28, 28) float32 and labels (N,) int64, held in memory."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self):
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)


def load_mnist(split: str = "train", limit: int | None = None, standardize: bool = False) -> TensorData:
    """MNIST as tensors: pixels scaled to [0, 1] (or standardized with the training mean and std).

    `limit` keeps the first `limit` examples (fast mode uses this; see `dlcourse.fastmode`).
    """
    images, labels = _raw_split(split)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be a positive number of examples or None, got {limit}")
        images, labels = images[:limit], labels[:limit]
    x = images.to(torch.float32).div_(255.0).unsqueeze(1)
    if standardize:
        x = x.sub_(MNIST_MEAN).div_(MNIST_STD)
    return TensorData(x, labels.clone())


def train_val_split(data: TensorData, val_fraction: float = 0.2, seed: int = 0) -> tuple[TensorData, TensorData]:
    """Seeded random split (8:2 by default): the same seed always gives the same two halves."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    n_val = int(round(len(data) * val_fraction))
    if n_val == 0 or n_val == len(data):
        raise ValueError(f"{len(data)} examples are too few to split with val_fraction={val_fraction}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (TensorData(data.images[train_idx], data.labels[train_idx]),
            TensorData(data.images[val_idx], data.labels[val_idx]))


class TensorLoader:
    """Batches from in-memory tensors: shuffled afresh each epoch, reproducibly.

    Epoch k's order comes from a generator seeded with (seed, k), so a run restarted with the same
    seed sees the same batches, and two loaders with different seeds see different ones.
    Iterate it like a DataLoader: `for x, y in loader: ...`.
    """

    def __init__(self, data: TensorData, batch_size: int = 128, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        full, rest = divmod(len(self.data), self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self):
        x, y = self.data.images, self.data.labels
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(len(y), generator=generator)
            # One gather per epoch (index_select on a 2-D view is the fastest form on the CPU);
            # the batches below are then free views into the shuffled copy.
            x = torch.index_select(x.reshape(len(y), -1), 0, order).view(x.shape)
            y = y[order]
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield x[start:start + self.batch_size], y[start:start + self.batch_size]


def torchvision_mnist(train: bool = True, transform=None, root: str | Path | None = None):
    """The shipped MNIST as a `torchvision.datasets.MNIST` (download=False).

    torchvision reads uncompressed IDX files from `<root>/MNIST/raw/`, so the first call writes
    them there (default root: ~/.cache/dlcourse, or $XDG_CACHE_HOME/dlcourse), after checking them.
    """
    from torchvision.datasets import MNIST

    root = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlcourse"
    raw_dir = root / "MNIST" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in MD5:
        target = raw_dir / name
        if not target.is_file() or _md5_of(target) != MD5[name]:
            read_idx(name)  # raises a clear error if the shipped file is missing or corrupt
            tmp = target.with_suffix(".partial")
            with gzip.open(data_dir() / "mnist" / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(target)
    return MNIST(str(root), train=train, transform=transform, download=False)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
