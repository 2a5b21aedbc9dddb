"""dlcourse.data: the shipped MNIST files, the in-memory loader and the torchvision view."""
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dlcourse import data
from dlcourse.data import MNISTFileError, TensorData, TensorLoader, load_mnist, read_idx, torchvision_mnist, train_val_split

SHIPPED = Path(data.__file__).resolve().parent.parent / "data" / "mnist"
TRAIN_FIRST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def train():
    return load_mnist("train")


@pytest.fixture(scope="module")
def test_split():
    return load_mnist("test")


def indexed(n, shape=(1, 2, 2)):
    """TensorData whose image i is filled with the value i and whose label is i: ids survive any shuffle."""
    ids = torch.arange(n)
    images = ids.to(torch.float32).view(n, *([1] * len(shape))).expand(n, *shape).contiguous()
    return TensorData(images, ids.clone())


def ids_of(d: TensorData) -> torch.Tensor:
    assert torch.equal(d.images[:, 0, 0, 0].long(), d.labels), "image and label moved apart"
    return d.labels


# --- the shipped files --------------------------------------------------------------------------

def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    assert data.data_dir() == SHIPPED.parent
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    assert data.data_dir() == tmp_path


def test_read_idx_shapes_and_dtype():
    images = read_idx("t10k-images-idx3-ubyte")
    labels = read_idx("t10k-labels-idx1-ubyte")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == TEST_FIRST_LABELS


def test_train_split(train):
    assert len(train) == 60000
    assert train.images.shape == (60000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert train.labels.shape == (60000,)
    assert train.labels.dtype == torch.int64
    assert float(train.images.min()) == 0.0 and float(train.images.max()) == 1.0
    assert train.labels[:10].tolist() == TRAIN_FIRST_LABELS
    assert torch.bincount(train.labels, minlength=10).tolist() == TRAIN_CLASS_COUNTS


def test_test_split(test_split):
    assert len(test_split) == 10000
    assert test_split.images.shape == (10000, 1, 28, 28)
    assert test_split.images.dtype == torch.float32
    assert float(test_split.images.min()) == 0.0 and float(test_split.images.max()) == 1.0
    assert test_split.labels[:10].tolist() == TEST_FIRST_LABELS
    assert torch.bincount(test_split.labels, minlength=10).tolist() == TEST_CLASS_COUNTS


def test_pixels_are_bytes_over_255(test_split):
    raw = torch.from_numpy(read_idx("t10k-images-idx3-ubyte").copy())
    assert torch.equal(test_split.images[:, 0], raw.to(torch.float32) / 255)


def test_training_pixel_statistics_match_the_constants(train):
    assert float(train.images.mean()) == pytest.approx(data.MNIST_MEAN, abs=1e-4)
    assert float(train.images.std()) == pytest.approx(data.MNIST_STD, abs=1e-4)


def test_standardize(train):
    standardized = load_mnist("train", standardize=True)
    assert standardized.images.dtype == torch.float32
    assert abs(float(standardized.images.mean())) < 1e-3
    assert float(standardized.images.std()) == pytest.approx(1.0, abs=1e-3)
    expected = (train.images[:2000] - data.MNIST_MEAN) / data.MNIST_STD
    assert torch.allclose(standardized.images[:2000], expected, atol=1e-6)
    assert torch.equal(standardized.labels, train.labels)


def test_loaded_data_is_a_private_copy():
    first = load_mnist("test", limit=5)
    first.images.fill_(-1.0)
    first.labels.fill_(-1)
    again = load_mnist("test", limit=5)
    assert float(again.images.min()) >= 0.0
    assert again.labels.tolist() == TEST_FIRST_LABELS[:5]


def test_limit(train):
    small = load_mnist("train", limit=100)
    assert len(small) == 100 and small.images.shape == (100, 1, 28, 28)
    assert torch.equal(small.images, train.images[:100])
    assert torch.equal(small.labels, train.labels[:100])
    assert len(load_mnist("test", limit=1)) == 1
    assert len(load_mnist("test", limit=10**9)) == 10000


@pytest.mark.parametrize("split", ["val", "training", "TRAIN", ""])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split"):
        load_mnist(split)


@pytest.mark.parametrize("limit", [0, -1, -1000])
def test_bad_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        load_mnist("test", limit=limit)


def test_tensordata_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        TensorData(torch.zeros(3, 1, 28, 28), torch.zeros(2, dtype=torch.int64))


# --- missing and corrupt files ------------------------------------------------------------------

@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the test-split files under tmp_path, with $DLCOURSE_DATA pointing at it."""
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in data.FILES["test"]:
        shutil.copy(SHIPPED / f"{name}.gz", mnist / f"{name}.gz")
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    data._raw_split.cache_clear()
    yield mnist
    data._raw_split.cache_clear()


def assert_names_file_and_rebuild(excinfo, path):
    message = str(excinfo.value)
    assert str(path) in message
    assert "python data/build_mnist.py" in message


def test_copy_loads_like_the_original(data_copy):
    assert load_mnist("test").labels[:10].tolist() == TEST_FIRST_LABELS


def test_missing_file(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    with pytest.raises(MNISTFileError) as excinfo:
        load_mnist("test")
    assert_names_file_and_rebuild(excinfo, path)
    assert "not found" in str(excinfo.value)


def test_missing_file_read_idx_with_directory(tmp_path):
    with pytest.raises(MNISTFileError) as excinfo:
        read_idx("t10k-images-idx3-ubyte", directory=tmp_path)
    assert_names_file_and_rebuild(excinfo, tmp_path / "t10k-images-idx3-ubyte.gz")


def test_file_that_is_not_gzip(data_copy):
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"this is not a gzip file at all" * 10)
    with pytest.raises(MNISTFileError) as excinfo:
        load_mnist("test")
    assert_names_file_and_rebuild(excinfo, path)


def test_truncated_file(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[: 2000])
    with pytest.raises(MNISTFileError) as excinfo:
        load_mnist("test")
    assert_names_file_and_rebuild(excinfo, path)


def test_valid_gzip_with_wrong_content(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[8] = (content[8] + 1) % 10  # relabel the first test image: still a well-formed IDX file
    path.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(MNISTFileError) as excinfo:
        load_mnist("test")
    assert_names_file_and_rebuild(excinfo, path)
    assert "MD5" in str(excinfo.value)


@pytest.mark.parametrize("offset", [20, 100, 1000, 2000, -5])
def test_flipped_byte_in_compressed_file(tmp_path, offset):
    """Damage inside the compressed stream is a corrupt file too, whatever layer notices it first."""
    name = "t10k-labels-idx1-ubyte"
    raw = bytearray((SHIPPED / f"{name}.gz").read_bytes())
    raw[offset] ^= 0xFF
    (tmp_path / f"{name}.gz").write_bytes(bytes(raw))
    with pytest.raises(MNISTFileError) as excinfo:
        read_idx(name, directory=tmp_path)
    assert_names_file_and_rebuild(excinfo, tmp_path / f"{name}.gz")


# --- train_val_split ----------------------------------------------------------------------------

def test_split_sizes_disjoint_and_covering():
    d = indexed(100)
    tr, va = train_val_split(d)
    assert (len(tr), len(va)) == (80, 20)
    train_ids, val_ids = set(ids_of(tr).tolist()), set(ids_of(va).tolist())
    assert len(train_ids) == 80 and len(val_ids) == 20
    assert train_ids.isdisjoint(val_ids)
    assert train_ids | val_ids == set(range(100))


def test_split_is_random_not_a_slice():
    tr, va = train_val_split(indexed(100))
    assert ids_of(va).tolist() != list(range(80, 100))
    assert ids_of(va).tolist() != list(range(20))


def test_split_other_fraction():
    tr, va = train_val_split(indexed(50), val_fraction=0.1)
    assert (len(tr), len(va)) == (45, 5)


def test_split_same_seed_same_split():
    a_tr, a_va = train_val_split(indexed(100), seed=3)
    b_tr, b_va = train_val_split(indexed(100), seed=3)
    assert torch.equal(ids_of(a_tr), ids_of(b_tr)) and torch.equal(ids_of(a_va), ids_of(b_va))


def test_split_different_seed_different_split():
    _, a_va = train_val_split(indexed(100), seed=0)
    _, b_va = train_val_split(indexed(100), seed=1)
    assert set(ids_of(a_va).tolist()) != set(ids_of(b_va).tolist())


def test_split_does_not_touch_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    train_val_split(indexed(100), seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_invalid_fraction(fraction):
    with pytest.raises(ValueError):
        train_val_split(indexed(100), val_fraction=fraction)


@pytest.mark.parametrize("n, fraction", [(4, 0.1), (4, 0.9)])
def test_split_too_few_examples(n, fraction):
    with pytest.raises(ValueError):
        train_val_split(indexed(n), val_fraction=fraction)


# --- TensorLoader -------------------------------------------------------------------------------

def epoch_ids(loader):
    return torch.cat([y for _, y in loader]).tolist()


def test_loader_len():
    d = indexed(10)
    assert len(TensorLoader(d, batch_size=3)) == 4
    assert len(TensorLoader(d, batch_size=3, drop_last=True)) == 3
    assert len(TensorLoader(d, batch_size=5)) == 2
    assert len(TensorLoader(d, batch_size=5, drop_last=True)) == 2
    assert len(TensorLoader(d, batch_size=20)) == 1
    assert len(TensorLoader(d, batch_size=20, drop_last=True)) == 0


def test_loader_batches_match_len():
    d = indexed(10)
    for drop_last in (False, True):
        loader = TensorLoader(d, batch_size=3, drop_last=drop_last)
        sizes = [len(y) for _, y in loader]
        assert len(sizes) == len(loader)
        assert sizes == ([3, 3, 3] if drop_last else [3, 3, 3, 1])


def test_loader_every_example_once_per_epoch_and_pairs_intact():
    loader = TensorLoader(indexed(23), batch_size=4, seed=1)
    for _ in range(3):
        seen = []
        for x, y in loader:
            assert x.shape[1:] == (1, 2, 2)
            assert torch.equal(x[:, 0, 0, 0].long(), y)
            seen += y.tolist()
        assert sorted(seen) == list(range(23))


def test_loader_shuffles_differently_each_epoch():
    loader = TensorLoader(indexed(50), batch_size=8, seed=0)
    orders = [epoch_ids(loader) for _ in range(3)]
    assert orders[0] != list(range(50))
    assert orders[0] != orders[1] and orders[1] != orders[2]


def test_loader_reproducible_with_same_seed():
    a = TensorLoader(indexed(50), batch_size=8, seed=4)
    b = TensorLoader(indexed(50), batch_size=8, seed=4)
    assert [epoch_ids(a) for _ in range(3)] == [epoch_ids(b) for _ in range(3)]


def test_loader_different_seed_different_order():
    a = TensorLoader(indexed(50), batch_size=8, seed=0)
    b = TensorLoader(indexed(50), batch_size=8, seed=1)
    assert epoch_ids(a) != epoch_ids(b)


def test_loader_no_shuffle_keeps_order():
    loader = TensorLoader(indexed(10), batch_size=4, shuffle=False)
    assert epoch_ids(loader) == list(range(10))
    assert epoch_ids(loader) == list(range(10))
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_loader_does_not_modify_the_data():
    d = indexed(20)
    before_images, before_labels = d.images.clone(), d.labels.clone()
    for _ in TensorLoader(d, batch_size=6, seed=2):
        pass
    assert torch.equal(d.images, before_images) and torch.equal(d.labels, before_labels)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_loader_bad_batch_size(batch_size):
    with pytest.raises(ValueError):
        TensorLoader(indexed(10), batch_size=batch_size)


def test_loader_on_mnist(test_split):
    loader = TensorLoader(test_split, batch_size=1000, seed=0)
    batches = list(loader)
    assert len(batches) == 10
    assert all(x.shape == (1000, 1, 28, 28) and x.dtype == torch.float32 for x, _ in batches)
    labels = torch.cat([y for _, y in batches])
    assert torch.bincount(labels, minlength=10).tolist() == TEST_CLASS_COUNTS
    assert labels[:10].tolist() != TEST_FIRST_LABELS


# --- torchvision -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torchvision_root(tmp_path_factory):
    return tmp_path_factory.mktemp("torchvision_root")


def test_torchvision_mnist_train(torchvision_root, train):
    from torchvision.transforms import ToTensor

    dataset = torchvision_mnist(train=True, transform=ToTensor(), root=torchvision_root)
    assert len(dataset) == 60000
    image, label = dataset[0]
    assert label == 5
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert torch.equal(image, train.images[0])
    image, label = dataset[59999]
    assert label == int(train.labels[59999])
    assert torch.equal(image, train.images[59999])
    raw = torchvision_root / "MNIST" / "raw"
    for name in data.MD5:
        assert data._md5_of(raw / name) == data.MD5[name]


def test_torchvision_mnist_test(torchvision_root, test_split):
    from torchvision.transforms import ToTensor

    dataset = torchvision_mnist(train=False, transform=ToTensor(), root=torchvision_root)
    assert len(dataset) == 10000
    image, label = dataset[0]
    assert label == 7
    assert torch.equal(image, test_split.images[0])


def test_torchvision_mnist_repairs_a_damaged_cached_file(tmp_path):
    first = torchvision_mnist(train=False, root=tmp_path)
    target = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    target.write_bytes(b"damaged")
    dataset = torchvision_mnist(train=False, root=tmp_path)
    assert data._md5_of(target) == data.MD5["t10k-labels-idx1-ubyte"]
    assert dataset[0][1] == first[0][1] == 7
