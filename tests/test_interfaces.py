"""The interfaces the checks call, declared once (adapter.Implementation, ModuleHandle, ObjectHandle).

The local implementation and its handles implement them with the same signatures; the remote
handles are made from them (each method a request to the worker, checked against the declared
signature before it is sent); the worker accepts exactly the declared methods on a handle.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from autograder import protocol, remote
from autograder.checks import adapter
from autograder.checks.adapter import (
    MODULE_METHODS,
    OBJECT_METHODS,
    Implementation,
    LocalImplementation,
    LocalModule,
    LocalObject,
    ModuleHandle,
    ObjectHandle,
)


def _shape(function) -> list[tuple]:
    """A signature without its annotations: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_method_lists_come_from_the_protocols():
    assert MODULE_METHODS == ("set_training", "is_training", "forward", "forward_backward", "parameters", "buffers",
                              "state_dict", "load_state_dict", "set_parameter", "to_dtype")
    assert OBJECT_METHODS == ("step", "attributes")
    assert adapter.methods(Implementation) == ("has", "call", "new_module", "new_object")


@pytest.mark.parametrize("declared, local, remote_class", [
    (Implementation, LocalImplementation, remote.RemoteImplementation),
    (ModuleHandle, LocalModule, remote.RemoteModule),
    (ObjectHandle, LocalObject, remote.RemoteObject),
], ids=["implementation", "module", "object"])
def test_local_and_remote_implement_each_protocol_with_its_signatures(declared, local, remote_class):
    for name in adapter.methods(declared):
        assert _shape(getattr(local, name)) == _shape(getattr(declared, name)), f"{local.__name__}.{name}"
        assert _shape(getattr(remote_class, name)) == _shape(getattr(declared, name)), f"{remote_class.__name__}.{name}"


def test_instances_satisfy_the_protocols():
    namespace = {"torch": __import__("torch")}
    exec("class M(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
         "class C:\n    def __call__(self, value, model):\n        return False\n", namespace)
    local = LocalImplementation(namespace)
    assert isinstance(local, Implementation)
    assert isinstance(local.new_module("M"), ModuleHandle) and isinstance(local.new_object("C"), ObjectHandle)
    far = remote.RemoteImplementation([("c", "x = 1\n")], mode="none")  # no worker starts before a request
    assert isinstance(far, Implementation) and far.worker.process is None
    assert isinstance(remote.RemoteModule(far, protocol.Handle(0)), ModuleHandle)
    assert isinstance(remote.RemoteObject(far, protocol.Handle(0)), ObjectHandle)


class _Recorder:
    """Stands in for a RemoteImplementation: records each request and answers `answer`."""

    def __init__(self, answer):
        self.answer = answer
        self.sent: list[tuple] = []
        self.worker = type("Worker", (), {"process": object()})()

    def _request(self, op, *args, **fields):
        self.sent.append((op, args, fields))
        return self.answer


def _received(method, args, fields) -> dict:
    """The arguments the worker's handle method gets from a recorded request (without self)."""
    bound = inspect.signature(method).bind(None, *args, **fields["kwargs"])
    return {name: value for name, value in bound.arguments.items() if name != "self"}


def test_a_remote_handle_sends_each_call_as_declared_and_makes_plain_answers():
    impl = _Recorder(answer="from the worker")
    module = remote.RemoteModule(impl, protocol.Handle(3))
    x = np.ones(2)
    assert module.forward(x) == "from the worker"
    module.forward(x, seed=5)
    op, args, fields = impl.sent[-1]
    assert (op, fields["handle"], fields["method"]) == ("module", 3, "forward")
    assert _received(LocalModule.forward, args, fields) == {"x": x, "seed": 5}
    assert module.set_training(True) is None          # declared -> None: whatever came back is dropped
    assert module.is_training() is True               # declared -> bool: made a bool here
    with pytest.raises(TypeError):
        module.forward()                              # not the declared signature: nothing is sent
    with pytest.raises(TypeError):
        module.to_dtype("float64", "extra")
    assert len(impl.sent) == 4
    obj = remote.RemoteObject(impl, protocol.Handle(4))
    obj.step(0.5, {}, in_place=False)
    op, args, fields = impl.sent[-1]
    assert (op, fields["method"]) == ("object", "step")
    assert _received(LocalObject.step, args, fields) == {"value": 0.5, "state": {}, "in_place": False}
    assert remote.RemoteModule.forward.__doc__ == ModuleHandle.forward.__doc__


def test_a_handle_from_a_previous_worker_is_refused():
    impl = _Recorder(answer=None)
    module = remote.RemoteModule(impl, protocol.Handle(0))
    impl.worker.process = object()  # restarted
    with pytest.raises(remote.WorkerDied, match="lost when the student's process was restarted"):
        module.parameters()
    assert impl.sent == []
