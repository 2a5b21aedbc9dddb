"""dlcourse.probes: activations, gradient norms and dead units, measured without changing the model."""
import pytest
import torch
from torch import nn

from dlcourse.probes import dead_unit_fraction, layer_gradient_norms, record_activations


def mlp(activation=nn.ReLU, depth=3, width=16, seed=0):
    torch.manual_seed(seed)
    layers, d_in = [nn.Flatten()], 8
    for _ in range(depth):
        layers += [nn.Linear(d_in, width), activation()]
        d_in = width
    layers.append(nn.Linear(d_in, 3))
    return nn.Sequential(*layers)


def batch(n=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


# --- record_activations ------------------------------------------------------------------------

def test_record_activations_returns_each_activation_output_in_forward_order():
    model = mlp(nn.Tanh, depth=3)
    x, _ = batch()
    acts = record_activations(model, x)
    assert len(acts) == 3
    expected, h = [], x
    for module in model:
        h = module(h)
        if isinstance(module, nn.Tanh):
            expected.append(h)
    for got, want in zip(acts, expected):
        torch.testing.assert_close(got, want)
        assert not got.requires_grad


def test_record_activations_only_the_asked_types_and_mixed_activations():
    model = nn.Sequential(nn.Linear(8, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4),
                          nn.LeakyReLU(0.1), nn.Linear(4, 2))
    x, _ = batch()
    assert [a.shape for a in record_activations(model, x)] == [torch.Size([32, 4])] * 3
    sig = record_activations(model, x)[0]
    assert sig.min() > 0 and sig.max() < 1  # the sigmoid's output, not the linear layer's
    linears = record_activations(model, x, layer_types=(nn.Linear,))
    assert [a.shape[1] for a in linears] == [4, 4, 4, 2]


def test_record_activations_leaves_no_hook_and_keeps_the_mode():
    model = mlp()
    model.eval()
    record_activations(model, batch()[0])
    assert hook_count(model) == 0
    assert not any(m.training for m in model.modules())
    model.train()
    record_activations(model, batch()[0])
    assert all(m.training for m in model.modules())


def test_record_activations_removes_hooks_when_the_forward_pass_fails():
    model = mlp()
    with pytest.raises(RuntimeError):
        record_activations(model, torch.zeros(4, 5))  # wrong input width
    assert hook_count(model) == 0


def test_recorded_activations_are_copies():
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(inplace=True), nn.Linear(4, 2), nn.ReLU(inplace=True))
    acts = record_activations(model, batch()[0])
    assert len(acts) == 2 and acts[0].shape == (32, 4)
    acts[0].fill_(7.0)
    assert record_activations(model, batch()[0])[0].max() < 7.0


# --- layer_gradient_norms ----------------------------------------------------------------------

def test_gradient_norms_match_a_manual_backward_pass():
    model = mlp(nn.Sigmoid, depth=4)
    x, y = batch()
    norms = layer_gradient_norms(model, x, y)
    model.zero_grad(set_to_none=True)
    nn.CrossEntropyLoss()(model(x), y).backward()
    want = [float(m.weight.grad.norm()) for m in model if isinstance(m, nn.Linear)]
    assert len(norms) == 5
    assert norms == pytest.approx(want, rel=1e-5)


def test_gradient_norms_follow_forward_order_not_definition_order():
    class Reversed(nn.Module):
        def __init__(self):
            super().__init__()
            self.last = nn.Linear(6, 3)    # defined first, runs last
            self.first = nn.Linear(8, 6)

        def forward(self, x):
            return self.last(torch.relu(self.first(x)))

    model = Reversed()
    x, y = batch()
    norms = layer_gradient_norms(model, x, y)
    nn.CrossEntropyLoss()(model(x), y).backward()
    assert norms == pytest.approx([float(model.first.weight.grad.norm()), float(model.last.weight.grad.norm())], rel=1e-5)


def test_gradient_norms_leave_existing_grads_alone():
    model = mlp()
    x, y = batch()
    nn.CrossEntropyLoss()(model(x[:5]), y[:5]).backward()
    before = {name: p.grad.clone() for name, p in model.named_parameters()}
    layer_gradient_norms(model, x, y)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, before[name], rtol=0, atol=0)
    fresh = mlp()
    layer_gradient_norms(fresh, x, y)
    assert all(p.grad is None for p in fresh.parameters())
    assert hook_count(fresh) == 0


def test_gradient_norms_custom_loss_and_vanishing_sigmoid():
    x, y = batch(n=64)
    def mse(logits, target):
        return ((logits - nn.functional.one_hot(target, 3).float()) ** 2).mean()
    assert layer_gradient_norms(mlp(), x, y, loss_fn=mse) != pytest.approx(layer_gradient_norms(mlp(), x, y))
    deep = mlp(nn.Sigmoid, depth=8, width=32)
    norms = layer_gradient_norms(deep, x, y)
    assert norms[0] < norms[-1] / 100  # the sigmoid's gradient shrinks towards the input


def test_gradient_norms_work_under_no_grad_and_reject_bad_models():
    model = mlp()
    x, y = batch()
    with torch.no_grad():
        assert len(layer_gradient_norms(model, x, y)) == 4
    with pytest.raises(ValueError, match="no nn.Linear"):
        layer_gradient_norms(nn.Sequential(nn.Flatten(), nn.ReLU()), x, y)
    model[1].weight.requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        layer_gradient_norms(model, x, y)


# --- dead_unit_fraction ------------------------------------------------------------------------

def test_dead_unit_fraction_counts_columns_zero_for_every_example():
    acts = torch.tensor([[0.0, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 2.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0]])
    assert dead_unit_fraction(acts) == pytest.approx(0.5)     # columns 0 and 3
    assert dead_unit_fraction(torch.zeros(5, 10)) == 1.0
    assert dead_unit_fraction(torch.ones(5, 10)) == 0.0
    assert dead_unit_fraction(torch.full((2, 3), -0.01)) == 0.0  # LeakyReLU: negative, not dead
    assert dead_unit_fraction(torch.zeros(2, 3, 4, 4)) == 1.0   # conv maps: each position a unit


def test_dead_unit_fraction_of_relu_after_a_large_negative_bias():
    model = nn.Sequential(nn.Linear(8, 100), nn.ReLU())
    with torch.no_grad():
        model[0].bias[:40] = -100.0
    acts = record_activations(model, batch()[0])[0]
    assert dead_unit_fraction(acts) == pytest.approx(0.4)


def test_dead_unit_fraction_rejects_a_non_batch():
    with pytest.raises(ValueError):
        dead_unit_fraction(torch.zeros(5))
    with pytest.raises(ValueError):
        dead_unit_fraction(torch.zeros(0, 5))
