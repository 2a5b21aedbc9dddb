"""One training epoch on full MNIST: dlcourse's data path vs torchvision's MNIST + DataLoader.

Same model (784-512-256-10, ReLU, dropout 0.2), optimizer (Adam 1e-3) and batch size (128) on
both sides; only the data path differs. The two are run alternately, `--repeats` times each,
and the median of the per-run ratios reported. The lower bound is the epoch's matrix-multiply FLOPs divided by the
GFLOP/s this machine reaches on those very matrix shapes, measured beside each pair of epochs.

Prints `speedup: X.XX` (torchvision epoch / dlcourse epoch) and `bound_ratio: X.XX`
(dlcourse epoch / FLOP bound). Run with `make bench`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from dlcourse.data import TensorLoader, load_mnist, torchvision_mnist
from dlcourse.training import fit

LAYERS = (784, 512, 256, 10)
BATCH = 128


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )


def time_epoch(loader) -> float:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    started = time.perf_counter()
    fit(model, loader, epochs=1, optimizer=optimizer, progress=False)
    return time.perf_counter() - started


def time_data_only(loader) -> float:
    """One pass over the loader with no model: what the data path alone costs per epoch."""
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


def batch_sizes(n_examples: int) -> list[int]:
    full, rest = divmod(n_examples, BATCH)
    return [BATCH] * full + ([rest] if rest else [])


def matmul_shapes(batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product one training step of the MLP needs.

    Forward: X(b, in) @ W.T(in, out). Backward: dW = dY.T(out, b) @ X(b, in) for every layer,
    dX = dY(b, out) @ W(out, in) for every layer but the first (the input needs no gradient).
    """
    shapes = []
    for index, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        shapes.append((batch, fan_in, fan_out))
        shapes.append((fan_out, batch, fan_in))
        if index > 0:
            shapes.append((batch, fan_out, fan_in))
    return shapes


def epoch_flops(n_examples: int) -> int:
    return sum(2 * m * k * n for b in batch_sizes(n_examples) for m, k, n in matmul_shapes(b))


def gemm_rate(shapes: list[tuple[int, int, int]], repeats: int) -> float:
    """Median GFLOP/s of running the given products back to back (operands prepared in advance)."""
    operands = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for a, b in operands:  # warm-up
        a @ b
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(20):
            for a, b in operands:
                a @ b
        rates.append(20 * flops / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs per data path (median taken); at least 3")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3: a median of fewer runs is not a measurement")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    train = load_mnist("train")
    ours_loader = TensorLoader(train, batch_size=BATCH, shuffle=True, seed=0)
    tv_loader = DataLoader(torchvision_mnist(train=True, transform=ToTensor()), batch_size=BATCH, shuffle=True)

    flops = epoch_flops(len(train))
    shapes = matmul_shapes(BATCH)
    ours, theirs, rates = [], [], []
    for run in range(args.repeats):  # alternate, so drift in machine load hits both sides alike
        ours.append(time_epoch(ours_loader))
        theirs.append(time_epoch(tv_loader))
        rates.append(gemm_rate(shapes, repeats=3))  # the bound, measured beside each pair of epochs
        print(f"run {run + 1}: dlcourse {ours[-1]:.2f} s, torchvision+DataLoader {theirs[-1]:.2f} s, "
              f"matmul {rates[-1]:.0f} GFLOP/s -> bound {flops / (rates[-1] * 1e9):.2f} s")

    rate_square = gemm_rate([(1024, 1024, 1024)], repeats=5)
    data_ours = statistics.median(time_data_only(ours_loader) for _ in range(3))
    data_theirs = time_data_only(tv_loader)
    median = statistics.median
    result = {
        "dlcourse_s": median(ours),
        "torchvision_s": median(theirs),
        "epoch_gflop": flops / 1e9,
        "gflops_epoch_shapes": median(rates),
        "gflops_1024": rate_square,
        "bound_s": flops / (median(rates) * 1e9),
        # Ratios within each run, then their median: load drifting between runs cancels out.
        "speedup": median(t / o for t, o in zip(theirs, ours)),
        "bound_ratio": median(o / (flops / (r * 1e9)) for o, r in zip(ours, rates)),
    }
    result.update(data_only_dlcourse_s=data_ours, data_only_torchvision_s=data_theirs)
    print(f"median epoch: dlcourse {result['dlcourse_s']:.2f} s, torchvision+DataLoader {result['torchvision_s']:.2f} s")
    print(f"epoch matmul work: {result['epoch_gflop']:.1f} GFLOP; matmul rate on the epoch's shapes "
          f"{result['gflops_epoch_shapes']:.0f} GFLOP/s (1024x1024: {rate_square:.0f} GFLOP/s); bound {result['bound_s']:.2f} s")
    print(f"data path alone, one epoch without a model: dlcourse {data_ours:.2f} s, "
          f"torchvision+DataLoader {data_theirs:.2f} s")
    print(f"bound_ratio at the 1024x1024 rate (stricter): {result['dlcourse_s'] / (flops / (rate_square * 1e9)):.2f}")
    print(f"speedup: {result['speedup']:.2f}")
    print(f"bound_ratio: {result['bound_ratio']:.2f}")
    return result


if __name__ == "__main__":
    main()
