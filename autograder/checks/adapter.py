"""How a check talks to a student's implementation, wherever that implementation runs.

Checks never hold the student's objects: they ask an `Implementation` to call a function or to
drive a module, and get back plain NumPy arrays (or opaque handles for things like a backward
cache). `LocalImplementation` does this in-process; `autograder.remote.RemoteImplementation`
does it over a pipe to a sandboxed worker (`autograder.worker`), with the same answers for an
honest implementation. The interfaces are declared once, below, as Protocols: `Implementation`,
`ModuleHandle` and `ObjectHandle`; the worker accepts exactly their methods (`MODULE_METHODS`,
`OBJECT_METHODS`) and the remote handles are made from them.

Three kinds of student code are driven:
- functions: `impl.call(name, *args, **kwargs)`;
- torch modules: `impl.new_module(class_name, ...)` -> a `ModuleHandle` (`LocalModule`) with
  forward, forward_backward, parameters, buffers, state_dict, ...;
- callback objects, called once per epoch with a number and a model the way
  `dlcourse.training.fit` calls `early_stopping(val_loss, model)`: `impl.new_object(class_name,
  ...)` -> an `ObjectHandle` (`LocalObject`) whose `step(value, state)` writes `state` into a
  small probe model (`probe_model()`), calls the object with (value, probe) and answers (what it
  returned, the probe's state afterwards); `attributes(names)` reads numeric attributes.
"""
from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch


class CheckFailed(Exception):
    """A check found a mistake; the message says which and, where it can, why.

    `mistake` is the key of the known mistake it names (autograder.checks.mistakes), if any.
    """

    def __init__(self, message: str = "", mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake


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


# -- the interfaces, declared once ----------------------------------------------------------------

@runtime_checkable
class ModuleHandle(Protocol):
    """One torch module of the student's, driven by name; every answer is plain NumPy.

    `LocalModule` in the student's process, `remote.RemoteModule` from the grader's.
    """

    def set_training(self, training: bool) -> None:
        """module.train(training)."""

    def is_training(self) -> bool:
        """module.training."""

    def forward(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """module(x) without gradients, after torch.manual_seed(seed) unless seed is None."""

    def forward_backward(self, x: np.ndarray, dout: np.ndarray, seed: int | None = None) -> tuple:
        """(output, input gradient, {parameter name: gradient}) of one forward and backward."""

    def parameters(self) -> dict[str, np.ndarray]:
        """{name: value} of module.named_parameters()."""

    def buffers(self) -> dict[str, np.ndarray]:
        """{name: value} of module.named_buffers()."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """module.state_dict() as plain arrays."""

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """module.load_state_dict(state), the arrays made tensors."""

    def set_parameter(self, name: str, value: np.ndarray) -> None:
        """Copy `value` into the parameter `name`."""

    def to_dtype(self, dtype: str) -> None:
        """module.to(torch.<dtype>)."""


@runtime_checkable
class ObjectHandle(Protocol):
    """One callback object of the student's (an early-stopping callback), driven as `fit` would.

    `LocalObject` in the student's process (its docstring tells the details), `remote.RemoteObject`
    from the grader's.
    """

    def step(self, value: float, state: dict[str, np.ndarray], in_place: bool = True) -> tuple:
        """Write `state` into the probe model, call obj(value, probe); return (answer, state after)."""

    def attributes(self, names: list[str]) -> dict[str, object]:
        """{name: int, float or bool} for each named attribute; a description where it is not a number."""


@runtime_checkable
class Implementation(Protocol):
    """The student's code as the checks see it: `LocalImplementation` or `remote.RemoteImplementation`.

    A request the student's code raised on raises `StudentError`; one that cannot be checked at
    all raises `CheckFailed`.
    """

    forbidden_seen: Set[str]  # forbidden operations seen running (only where nothing is locked)

    def has(self, name: str) -> bool:
        """Whether the student's code defines `name`."""

    def call(self, name: str, *args, **kwargs) -> tuple:
        """Call function `name`; return (its result, its arguments after the call), exported."""

    def new_module(self, class_name: str, *args, **kwargs) -> ModuleHandle:
        """Create `class_name(*args, **kwargs)`, a torch.nn.Module."""

    def new_object(self, class_name: str, *args, **kwargs) -> ObjectHandle:
        """Create `class_name(*args, **kwargs)`, a callable object."""


def methods(protocol: type) -> tuple[str, ...]:
    """The methods a Protocol declares, in the order it declares them."""
    return tuple(name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_"))


MODULE_METHODS = methods(ModuleHandle)  # what a module handle accepts, here and in the worker
OBJECT_METHODS = methods(ObjectHandle)  # what an object handle accepts, here and in the worker


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


class _NoLog:
    """Stands in for _OpLog where nothing is logged."""

    ops: frozenset = frozenset()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LocalImplementation:
    """The student's objects in this very process (a notebook's self-check, and the worker): an Implementation.

    With `log_operations`, every torch function and aten operation the student's code runs is
    logged and the forbidden ones collected in `forbidden_seen`: a diagnosis for the student's own
    notebook, where nothing is locked. It is the student's own process, so no grade depends on it;
    the sandboxed worker turns it off (there the forbidden kernels raise, see autograder.lockdown).
    """

    def __init__(self, namespace: dict, log_operations: bool = True):
        self.namespace = namespace
        self.log_operations = log_operations
        self.forbidden_seen: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.namespace

    def _get(self, name: str):
        if name not in self.namespace:
            raise CheckFailed(f"`{name}` is not defined: run the cell that defines it first")
        return self.namespace[name]

    def _run(self, fn, *args, **kwargs):
        log = _OpLog() if self.log_operations else _NoLog()
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

    def new_module(self, class_name: str, *args, **kwargs) -> LocalModule:
        cls = self._get(class_name)
        module = self._run(cls, *args, **kwargs)
        if not isinstance(module, torch.nn.Module):
            raise CheckFailed(f"{class_name}(...) did not create a torch.nn.Module")
        return LocalModule(self, module)

    def new_object(self, class_name: str, *args, **kwargs) -> LocalObject:
        """Create `class_name(*args, **kwargs)`: a callable object driven with a probe model (see LocalObject)."""
        cls = self._get(class_name)
        args = [_prepare(_unwrap(a)) for a in args]
        kwargs = {k: _prepare(_unwrap(v)) for k, v in kwargs.items()}
        obj = self._run(cls, *args, **kwargs)
        if not callable(obj):
            raise CheckFailed(f"{class_name}(...) created an object that cannot be called: "
                              "define __call__(self, val_loss, model)")
        return LocalObject(self, obj)


class LocalModule:
    """The ModuleHandle of one torch module of the student's in this process; every answer is plain NumPy."""

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


def probe_model() -> torch.nn.Module:
    """The model a callback object is given by `LocalObject.step`: Linear(3, 4) then BatchNorm1d(4).

    Its state_dict holds parameters (weights, biases) and buffers (running_mean, running_var and
    the int64 num_batches_tracked), so a check can tell whether both are kept and restored.
    Built without touching torch's global random generator (its values are overwritten anyway).
    """
    with torch.random.fork_rng(devices=[]):
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def probe_state_template() -> dict[str, np.ndarray]:
    """{state_dict key: array of the key's shape and dtype} of `probe_model()`: what `step` expects."""
    return {k: to_numpy(v) for k, v in torch.nn.Module.state_dict(probe_model()).items()}


def _number_or_description(value):
    """A plain int, float or bool for a number of an exact built-in, NumPy or torch type (one-element
    tensors included); otherwise a short description such as "a list" (the value itself never leaves).
    Exact types only: a subclass could lie about its value in comparisons."""
    kind = type(value)
    if kind in (bool, np.bool_):
        return bool(value)
    if kind is int or (kind in _NUMPY_SCALARS and np.issubdtype(kind, np.integer)):
        return int(value)
    if kind is float or (kind in _NUMPY_SCALARS and np.issubdtype(kind, np.floating)):
        return float(value)
    if kind in (torch.Tensor, torch.nn.Parameter) and value.numel() == 1 and not value.is_complex():
        return _number_or_description(value.detach().cpu().reshape(()).item())
    return _describe(value)


def _describe(value) -> str:
    """"a <type name>", the name cut to 60 letters, digits, '_' or '.' (a student can name a class anything)."""
    name = "".join(c if c.isalnum() or c in "_." else "?" for c in str(type(value).__name__)[:60])
    return f"a {name}"


_NUMPY_SCALARS = {np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                  np.float16, np.float32, np.float64}


class LocalObject:
    """The ObjectHandle of one callable object of the student's (an early-stopping callback) in this process.

    The object is given the same probe model (`probe_model()`) on every call, as fit gives it the
    same model every epoch. `step(value, state)`:
      1. writes `state` ({key: array} for every key of the probe's state_dict) into the probe's
         EXISTING tensors in place, as an optimizer changes weights; so an object that kept a
         reference to them (a shallow copy of model.state_dict()) sees its "copy" change too.
         With in_place=False the tensors get new storage instead (`tensor.data = ...`), which
         leaves such a shallow copy intact: comparing both tells "kept a shallow copy" from
         "never restored";
      2. calls obj(float(value), probe), exactly as fit calls early_stopping(val_loss, model);
      3. returns (answer, state after): answer is the returned bool (a numpy.bool_ counts),
         or a description like "a NoneType" when something else came back; the state is the
         probe's state_dict as plain arrays.
    `attributes(names)` returns {name: number}, or a description ("no such attribute", "a list").
    """

    def __init__(self, impl: LocalImplementation, obj):
        self.impl = impl
        self.obj = obj
        self.model = probe_model()

    def _write_state(self, state: dict[str, np.ndarray], in_place: bool) -> None:
        live = torch.nn.Module.state_dict(self.model)
        if sorted(live) != sorted(state):
            raise CheckFailed(f"the model given to your object no longer has the same state_dict keys "
                              f"(now {sorted(live)}): do not change the model's structure")
        try:
            with torch.no_grad():
                for key, value in state.items():
                    new = torch.from_numpy(np.array(value, copy=True))
                    if in_place:
                        live[key].copy_(new)
                    else:
                        owner, _, name = key.rpartition(".")
                        module = torch.nn.Module.get_submodule(self.model, owner)
                        tensor = module._parameters.get(name)
                        tensor = module._buffers[name] if tensor is None else tensor
                        tensor.data = new.to(tensor.dtype)
        except Exception as exc:  # the object replaced or reshaped the model's tensors
            raise CheckFailed(f"the weights of the model given to your object could not be set ({type(exc).__name__}: "
                              f"{exc}): do not replace or reshape the model's tensors") from None

    def step(self, value: float, state: dict[str, np.ndarray], in_place: bool = True):
        """Write `state` into the probe, call obj(value, probe); return (answer, state after)."""
        self._write_state(state, in_place)
        result = self.impl._run(self.obj, float(value), self.model)
        answer = bool(result) if type(result) in (bool, np.bool_) else _describe(result)
        after = self.impl._run(torch.nn.Module.state_dict, self.model)
        return answer, {k: to_numpy(v) for k, v in after.items()}

    def attributes(self, names: list[str]) -> dict[str, object]:
        """{name: int, float or bool} for each named attribute; a description where it is not a number."""
        found = {}
        for name in names:
            missing = object()
            value = self.impl._run(getattr, self.obj, name, missing)
            found[name] = "no such attribute" if value is missing else self.impl._run(_number_or_description, value)
        return found
