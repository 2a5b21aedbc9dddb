"""How a check talks to a student's implementation, wherever that implementation runs.

Checks never hold the student's objects: they ask an Implementation to call a function or to
drive a module, and get back plain NumPy arrays (or opaque handles for things like a backward
cache). `LocalImplementation` does this in-process; `autograder.worker.RemoteImplementation`
does it over a pipe to a sandboxed process, with the same answers for an honest implementation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def fresh_rng() -> np.random.Generator:
    """The generator hidden checks draw their fresh inputs from.

    It is seeded from NumPy's global generator: the grader seeds that per submission and test
    (so grading again gives the same inputs and the same scores), while in a notebook every run
    draws new inputs. Either way the inputs are unknown before grading.
    """
    return np.random.default_rng(np.random.randint(0, 2**32, size=4, dtype=np.uint64))


class CheckFailed(Exception):
    """A check found a mistake; the message says which and, where it can, why."""


@dataclass(frozen=True)
class Rng:
    """Stands for `numpy.random.default_rng(seed)`, built where the student's code runs."""

    seed: int

    def __wire__(self) -> dict:
        return {"__rng__": int(self.seed)}


@dataclass
class StudentError(Exception):
    """The student's code raised: its exception's class names (MRO) and message."""

    type_names: tuple[str, ...]
    message: str

    def is_a(self, name: str) -> bool:
        return name in self.type_names

    def __str__(self) -> str:
        return f"{self.type_names[0]}: {self.message}"


# Aten operations that the forbidden library calls reach (seen below autograd, where composite
# ops such as aten::dropout and aten::batch_norm have already been decomposed into these).
FORBIDDEN_OPS = {
    "dropout": ("native_dropout", "dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"),
    "norm": ("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
             "_native_batch_norm_legit_functional", "batch_norm", "_batch_norm_impl_index",
             "_batch_norm_with_update", "_batch_norm_no_update", "instance_norm", "native_layer_norm",
             "layer_norm", "native_group_norm", "group_norm", "cudnn_batch_norm", "miopen_batch_norm"),
}


def to_numpy(value):
    """A plain base-class ndarray copy of an array or tensor (subclasses and their tricks dropped)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().resolve_conj().resolve_neg().numpy()
    array = np.asarray(value)
    return np.array(array.view(np.ndarray) if isinstance(array, np.ndarray) else array, copy=True, subok=False)


def _prepare(value):
    """Turn check-side stand-ins into real objects: Rng -> Generator; arrays and dicts copied."""
    if isinstance(value, Rng):
        return np.random.default_rng(value.seed)
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _export(value):
    """Student output -> check side: arrays become plain ndarrays, containers recurse, the rest stays opaque."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.ndarray, torch.Tensor, np.generic)):
        return to_numpy(value)
    if isinstance(value, tuple):
        return tuple(_export(v) for v in value)
    if isinstance(value, list):
        return [_export(v) for v in value]
    if isinstance(value, dict):
        return {k: _export(v) for k, v in value.items()}
    return Opaque(value)


@dataclass
class Opaque:
    """Something the student's code returned that checks only pass back (e.g. a backward cache)."""

    ref: object


def _unwrap(value):
    if isinstance(value, Opaque):
        return value.ref
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    return value


class _DispatchLog(torch.utils._python_dispatch.TorchDispatchMode):
    """Records every aten operation run while active (below autograd)."""

    def __init__(self, ops: set):
        super().__init__()
        self.ops = ops

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func._schema.name.split("::")[-1])
        return func(*args, **(kwargs or {}))


class _FunctionLog(torch.overrides.TorchFunctionMode):
    """Records the torch API functions called while active (F.dropout, torch.batch_norm, ...).

    Needed beside the dispatch log: on the CPU, F.dropout decomposes into bernoulli_, div_ and
    mul before it reaches the dispatcher, so only its Python-level name gives it away.
    """

    def __init__(self, ops: set):
        super().__init__()
        self.ops = ops

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.ops.add(getattr(func, "__name__", ""))
        return func(*args, **(kwargs or {}))


class _OpLog:
    """Both logs at once: `with _OpLog() as log: ...; log.ops`."""

    def __init__(self):
        self.ops: set[str] = set()
        self._modes = (_FunctionLog(self.ops), _DispatchLog(self.ops))

    def __enter__(self):
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        return False


class LocalImplementation:
    """The student's objects in this very process (a notebook's self-check)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.forbidden_seen: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.namespace

    def _get(self, name: str):
        if name not in self.namespace:
            raise CheckFailed(f"`{name}` is not defined: run the cell that defines it first")
        return self.namespace[name]

    def _run(self, fn, *args, **kwargs):
        log = _OpLog()
        try:
            with log:
                return fn(*args, **kwargs)
        except CheckFailed:
            raise
        except Exception as exc:  # the student's exception becomes data the check can inspect
            raise StudentError(tuple(c.__name__ for c in type(exc).__mro__), str(exc)) from None
        finally:
            self.forbidden_seen |= {op for ops in FORBIDDEN_OPS.values() for op in ops if op in log.ops}

    def call(self, name: str, *args, **kwargs):
        """Call function `name`; return (exported result, exported args after the call)."""
        args = [_prepare(_unwrap(a)) for a in args]
        kwargs = {k: _prepare(_unwrap(v)) for k, v in kwargs.items()}
        result = self._run(self._get(name), *args, **kwargs)
        return _export(result), _export(args)

    def new_module(self, class_name: str, *args, **kwargs) -> "LocalModule":
        cls = self._get(class_name)
        module = self._run(cls, *args, **kwargs)
        if not isinstance(module, torch.nn.Module):
            raise CheckFailed(f"{class_name}(...) did not create a torch.nn.Module")
        return LocalModule(self, module)


class LocalModule:
    """Drives one torch module of the student's; every answer is plain NumPy."""

    def __init__(self, impl: LocalImplementation, module: torch.nn.Module):
        self.impl = impl
        self.module = module

    def set_training(self, training: bool) -> None:
        self.impl._run(self.module.train, training)

    def is_training(self) -> bool:
        return bool(self.module.training)

    def forward(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        def run():
            if seed is not None:
                torch.manual_seed(seed)
            with torch.no_grad():
                return self.module(torch.from_numpy(np.array(x)))
        return _export(self.impl._run(run))

    def forward_backward(self, x: np.ndarray, dout: np.ndarray, seed: int | None = None):
        """(output, input gradient, {parameter name: gradient}) of one forward and backward."""
        def run():
            if seed is not None:
                torch.manual_seed(seed)
            for p in self.module.parameters():
                p.grad = None
            xt = torch.from_numpy(np.array(x)).requires_grad_(True)
            out = self.module(xt)
            out.backward(torch.from_numpy(np.array(dout)))
            grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in self.module.named_parameters()}
            return out, xt.grad, grads
        out, dx, grads = self.impl._run(run)
        if dx is None:
            raise CheckFailed("no gradient reached the input: is the output computed from it with torch operations?")
        return _export(out), _export(dx), _export(grads)

    def parameters(self) -> dict[str, np.ndarray]:
        return {n: to_numpy(p) for n, p in self.module.named_parameters()}

    def buffers(self) -> dict[str, np.ndarray]:
        return {n: to_numpy(b) for n, b in self.module.named_buffers()}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: to_numpy(v) for k, v in self.impl._run(self.module.state_dict).items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
        self.impl._run(self.module.load_state_dict, tensors)

    def set_parameter(self, name: str, value: np.ndarray) -> None:
        def run():
            with torch.no_grad():
                dict(self.module.named_parameters())[name].copy_(torch.from_numpy(np.array(value)))
        self.impl._run(run)

    def to_dtype(self, dtype: str) -> None:
        self.impl._run(self.module.to, getattr(torch, dtype))

