"""The interface the checks call, for a student's code running in a sandboxed worker.

`RemoteImplementation` answers has, call, new_module and new_object like the in-process
`adapter.LocalImplementation`, and its module and object handles (`RemoteModule`,
`RemoteObject`) mirror `LocalModule` and `LocalObject`: each call becomes a request to the
worker (`autograder.worker`), and each reply a result, the student's exception (`StudentError`)
or a failed check. The worker's process itself (starting it, the pipe, time limits, restarts,
killing it) is `autograder.worker_process`'s: a worker that overruns its time, exits or answers
garbage is killed with everything it started and the request fails with the reason
(`WorkerDied`); the next request starts a fresh worker, so one broken part does not sink the
others.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

from autograder import protocol, sandbox
from autograder.checks.adapter import MODULE_METHODS, OBJECT_METHODS, CheckFailed, ModuleHandle, ObjectHandle, StudentError
from autograder.worker_process import WorkerDied, WorkerProcess

__all__ = ["RemoteImplementation", "RemoteModule", "RemoteObject", "WorkerDied"]


class RemoteImplementation:
    """The student's code in a sandboxed worker: an Implementation (adapter.py), like LocalImplementation.

    The arguments are `worker_process.WorkerProcess`'s (the cells, the sandbox, its limits and
    mounts, the forbidden families, the time bounds, warm or cold); `worker` is that process.
    """

    # Nothing the student's process reports decides a verdict: forbidden calls raise in the worker.
    forbidden_seen: frozenset = frozenset()

    def __init__(self, cells: list[tuple[str, str]], mode: str = "bwrap", limits: sandbox.Limits = sandbox.Limits(),
                 request_timeout: float = 60.0, deadline: float | None = None, forbidden: tuple[str, ...] = (),
                 mounts: list[tuple[str, str]] = (), warm: bool = False):
        self.worker = WorkerProcess(cells, mode=mode, limits=limits, request_timeout=request_timeout,
                                    deadline=deadline, forbidden=forbidden, mounts=mounts, warm=warm)

    @property
    def cell_errors(self) -> dict[str, str]:
        """{grade_id: the exception its cell raised while loading}, from the last load."""
        return self.worker.cell_errors

    @property
    def load_problems(self) -> list[str]:
        """The top-level statements skipped because they ended or hung the worker, and why."""
        return self.worker.load_problems

    def close(self) -> None:
        """Stop the worker (and everything it started); the next request would start a new one."""
        self.worker.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, op: str, *args, **fields) -> object:
        message = {"op": op, "args": protocol.encode(list(args)), **fields}
        if "kwargs" in fields:
            message["kwargs"] = protocol.encode(fields["kwargs"])
        reply = self.worker.exchange(message)
        if reply.get("ok"):
            return protocol.decode(reply.get("result"))
        if "student_error" in reply:
            error = reply["student_error"]
            raise StudentError(tuple(str(t)[:100] for t in list(error["types"])[:20]) or ("Exception",),
                               str(error["message"])[:protocol.MAX_TEXT])
        if "check_failed" in reply:
            raise CheckFailed(str(reply["check_failed"])[:protocol.MAX_TEXT])
        raise CheckFailed(f"the grader could not run this check ({str(reply.get('worker_error', 'unknown error'))[:protocol.MAX_TEXT]})")

    # -- the Implementation interface (adapter.Implementation) ----------------------------------
    def has(self, name: str) -> bool:
        return bool(self._request("has", name=name))

    def call(self, name: str, *args, **kwargs):
        return self._request("call", *args, name=name, kwargs=kwargs)

    def new_module(self, class_name: str, *args, **kwargs) -> RemoteModule:
        handle = self._request("new_module", *args, name=class_name, kwargs=kwargs)
        return RemoteModule(self, handle)

    def new_object(self, class_name: str, *args, **kwargs) -> RemoteObject:
        handle = self._request("new_object", *args, name=class_name, kwargs=kwargs)
        return RemoteObject(self, handle)


class _RemoteHandle:
    """Something living in the worker behind a handle; `OP` names the worker op that drives it."""

    OP = ""

    def __init__(self, impl: RemoteImplementation, handle: protocol.Handle):
        self.impl = impl
        self.handle = handle
        self.process = impl.worker.process  # the worker process it lives in

    def _call(self, method: str, *args, **kwargs):
        if self.impl.worker.process is not self.process:
            raise WorkerDied(f"the {self.OP} was lost when the student's process was restarted")
        return self.impl._request(self.OP, *args, handle=self.handle.number, method=method, kwargs=kwargs)


# An answer declared as a bool or as nothing is made one on this side: it comes from the student's process.
_PLAIN_ANSWERS = {"bool": bool, "None": lambda answer: None}


def _forward(declared) -> Callable:
    """A method that sends a call of the Protocol method `declared` to the worker, checked against its signature."""
    signature = inspect.signature(declared)
    plain = _PLAIN_ANSWERS.get(signature.return_annotation, lambda answer: answer)
    name = declared.__name__

    def method(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)  # a call that would fail here fails before it is sent
        return plain(self._call(name, *bound.args[1:], **bound.kwargs))

    method.__name__, method.__doc__, method.__signature__ = name, declared.__doc__, signature
    return method


def _forwarding(protocol_class: type, methods: tuple[str, ...]):
    """Class decorator: a forwarding method for each of `protocol_class`'s `methods`."""
    def decorate(cls):
        for name in methods:
            method = _forward(getattr(protocol_class, name))
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
        return cls
    return decorate


@_forwarding(ModuleHandle, MODULE_METHODS)
class RemoteModule(_RemoteHandle):
    """A module living in the worker: the ModuleHandle whose every method is a request to it."""

    OP = "module"


@_forwarding(ObjectHandle, OBJECT_METHODS)
class RemoteObject(_RemoteHandle):
    """A callback object living in the worker, with its probe model: the ObjectHandle whose every method is a request to it."""

    OP = "object"
