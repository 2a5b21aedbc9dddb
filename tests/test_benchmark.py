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


def test_stock_fairest_case_keeps_set_up_graded_cells_and_markdown_only():
    import json

    import bench_grading

    nb = json.loads((ROOT / "notebooks" / "02_dropout" / "02_dropout.ipynb").read_text())
    stripped = bench_grading.without_experiments(nb)
    graded = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader")]
    assert [c for c in stripped["cells"] if c.get("metadata", {}).get("nbgrader")] == graded
    code = [c for c in stripped["cells"] if c["cell_type"] == "code" and not c.get("metadata", {}).get("nbgrader")]
    assert len(code) == 1 and "import torch" in "".join(code[0]["source"])  # the set-up cell alone
    assert sum(c["cell_type"] == "code" for c in nb["cells"]) > len(graded) + 10  # the experiments were there
