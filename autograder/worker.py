"""The sandboxed side of grading: runs a student's solution cells and answers the checker.

Started by `autograder.worker_process` inside the sandbox (or forked by `autograder.warm_sandbox`) as
`python -m autograder.worker READ_FD WRITE_FD [--drop-to=UID]`. With `--drop-to` (the grader
is root, so no user namespace is used) it first becomes that unprivileged user and loses every
capability. The first message carries the cells ({"cells": [[grade_id, source], ...]}) and the
forbidden families ({"forbidden": ["dropout"]}); the families are locked (`autograder.lockdown`)
before the first student statement. The cells run in one shared namespace, top to bottom, as in
the notebook. Then every request is answered through `LocalImplementation`, so an honest
implementation gives the same answers here as in a notebook.
Requests: the methods of adapter.Implementation (has, call, new_module, new_object), then module
(a method of adapter.ModuleHandle, on a torch module behind a handle) and object (a method of
adapter.ObjectHandle, on a callback object behind a handle, driven with a probe model that lives
here); the handles are adapter.LocalModule and LocalObject.
The student's prints go nowhere; only this file writes to WRITE_FD. Nothing the grader decides
comes from this process but the answers themselves: it is the student's process.
"""
from __future__ import annotations

import ast
import os
import sys
import traceback


def drop_privileges(uid: int) -> None:
    """Become `uid` (and its group) for good: real, effective and saved ids, no supplementary groups.

    From root to another user the kernel clears every capability; refuse to go on otherwise.
    """
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("could not give up root")


def main(read_fd: int, write_fd: int) -> None:
    import numpy as np  # noqa: F401  (imported before student code, as a notebook's setup would)
    import torch

    from autograder import families, lockdown, protocol
    from autograder.checks import adapter
    from autograder.checks.adapter import CheckFailed, LocalImplementation, LocalModule, LocalObject, Opaque, Rng, StudentError

    torch.set_num_threads(1)
    requests = os.fdopen(read_fd, "rb")
    responses = os.fdopen(write_fd, "wb")
    objects: list = []

    def to_wire(value):
        if isinstance(value, Opaque):
            objects.append(value.ref)
            return protocol.Handle(len(objects) - 1)
        if isinstance(value, tuple):
            return tuple(to_wire(v) for v in value)
        if isinstance(value, list):
            return [to_wire(v) for v in value]
        if isinstance(value, dict):
            return {k: to_wire(v) for k, v in value.items()}
        return value

    def from_wire(value):
        if isinstance(value, protocol.Handle):
            return Opaque(objects[value.number])
        if isinstance(value, protocol.RngRequest):
            return Rng(value.seed)
        if isinstance(value, tuple):
            return tuple(from_wire(v) for v in value)
        if isinstance(value, list):
            return [from_wire(v) for v in value]
        if isinstance(value, dict):
            return {k: from_wire(v) for k, v in value.items()}
        return value

    def handle_target(request: dict, kind: type, methods: tuple[str, ...]):
        """The object behind request["handle"], if it is a `kind` and the method is one of `methods`."""
        handle, method = request.get("handle"), request.get("method")
        valid = isinstance(handle, int) and not isinstance(handle, bool) and 0 <= handle < len(objects)
        target = objects[handle] if valid else None
        if not isinstance(target, kind) or method not in methods:
            raise ValueError(f"no {kind.__name__} method {method!r} for handle {handle!r}")
        return target

    def send(message: dict) -> None:
        responses.write(protocol.dumps(message))
        responses.flush()

    first = protocol.loads(requests.readline())
    skip = {tuple(pair) for pair in first.get("skip", [])}
    lockdown.lock([families.FAMILIES[name] for name in first.get("forbidden", [])])
    namespace: dict = {"__name__": "__main__", "get_ipython": _Inert}
    exec(PREAMBLE, namespace)  # what the notebook's set-up cells give every solution cell
    cell_errors = {}
    for j, (grade_id, source) in enumerate(first["cells"]):
        try:
            statements = ast.parse(source).body
        except SyntaxError as exc:
            cell_errors[grade_id] = f"SyntaxError: {exc.msg} (line {exc.lineno})"
            continue
        # One top-level statement at a time, announced first: if one ends or hangs the process,
        # the grader restarts the worker without it, so the trick costs nothing and earns nothing.
        for i, statement in enumerate(statements):
            if (j, i) in skip:
                continue
            send({"progress": [j, i, statement.lineno]})
            try:
                exec(compile(ast.Module([statement], type_ignores=[]), f"<cell {grade_id}>", "exec"), namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
                cell_errors.setdefault(grade_id, f"{type(exc).__name__}: {str(exc)[:protocol.MAX_TEXT]}")
    impl = LocalImplementation(namespace, log_operations=False)
    send({"ok": True, "cell_errors": cell_errors})

    for line in requests:
        request = protocol.loads(line)
        try:
            args = from_wire(protocol.decode(request.get("args", [])))
            kwargs = from_wire(protocol.decode(request.get("kwargs", {"__dict__": {}})))
            op = request["op"]
            if op == "has":
                result = impl.has(request["name"])
            elif op == "call":
                result = impl.call(request["name"], *args, **kwargs)
            elif op == "new_module":
                result = Opaque(impl.new_module(request["name"], *args, **kwargs))
            elif op == "module":
                module = handle_target(request, LocalModule, adapter.MODULE_METHODS)
                result = getattr(module, request["method"])(*args, **kwargs)
            elif op == "new_object":
                result = Opaque(impl.new_object(request["name"], *args, **kwargs))
            elif op == "object":
                target = handle_target(request, LocalObject, adapter.OBJECT_METHODS)
                result = getattr(target, request["method"])(*args, **kwargs)
            else:
                raise ValueError(f"unknown op {op!r}")
            reply = {"ok": True, "result": protocol.encode(to_wire(result))}
        except StudentError as exc:
            reply = {"ok": False, "student_error": {"types": list(exc.type_names)[:20], "message": exc.message[:protocol.MAX_TEXT]}}
        except CheckFailed as exc:
            reply = {"ok": False, "check_failed": str(exc)[:protocol.MAX_TEXT]}
        except BaseException as exc:
            reply = {"ok": False, "worker_error": f"{type(exc).__name__}: {str(exc)[:protocol.MAX_TEXT]}",
                     "trace": traceback.format_exc(limit=3)[-protocol.MAX_TEXT:]}
        send(reply)


class _Inert:
    """Stands in for IPython's get_ipython(): every hook a cell installs on it does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return _Inert()

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __iter__(self):
        return iter(())


PREAMBLE = "import numpy as np\nimport torch\nfrom torch import nn\n"

if __name__ == "__main__":
    for flag in sys.argv[3:]:
        if flag.startswith("--drop-to="):
            drop_privileges(int(flag.split("=", 1)[1]))
    main(int(sys.argv[1]), int(sys.argv[2]))
