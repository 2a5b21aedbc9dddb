"""The benchmark's arithmetic (not its timings: those are figures, printed, never asserted)."""
import sys

from notebook_runner import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_epoch  # noqa: E402


def test_matmul_shapes_cover_forward_and_backward_of_the_mlp():
    shapes = bench_epoch.matmul_shapes(128)
    # 3 forward products, 3 weight gradients, 2 input gradients (the first layer's input needs none)
    assert len(shapes) == 8
    assert (128, 784, 512) in shapes and (512, 128, 784) in shapes and (128, 512, 784) not in shapes


def test_epoch_flops_by_hand():
    per_example_forward = 2 * (784 * 512 + 512 * 256 + 256 * 10)
    per_example_input_grads = 2 * (512 * 256 + 256 * 10)
    expected = 60_000 * (2 * per_example_forward + per_example_input_grads)
    assert bench_epoch.epoch_flops(60_000) == expected
    assert bench_epoch.batch_sizes(60_000) == [128] * 468 + [96]


def test_benchmark_model_is_the_specified_mlp():
    model = bench_epoch.make_model()
    linear = [m for m in model if m.__class__.__name__ == "Linear"]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 512), (512, 256), (256, 10)]
    dropout = [m for m in model if m.__class__.__name__ == "Dropout"]
    assert [m.p for m in dropout] == [0.2, 0.2]
