"""What the sandboxed worker locks before the first statement of a student's code runs.

1. The forbidden kernels. Every operator in torch's dispatcher (any namespace: aten, quantized,
   ...) that belongs to a forbidden family (`autograder.families`) gets, at every dispatch key
   that has a kernel for it, a kernel that raises. The dispatcher is one table for the whole
   process, so F.dropout, torch.batch_norm, torch.ops.aten.*, nn modules, a thread, a tensor
   subclass: every route lands on the same raising kernel. No Python object that could undo the
   registration stays reachable: the registration handles are kept alive by a reference count
   nobody owns.
2. The ways around that lock, refused by an audit hook (PEP 578), which no Python code can
   remove once it is installed: ctypes (raw memory could rewrite the dispatcher's table or call
   a C++ kernel directly), starting processes (a fresh interpreter would not be locked), trace
   functions (a tracer can jump over a line of the hook), the garbage collector's object lists
   (the way to find objects nothing names) and rewriting the hook's code or defaults.

The verdict never reads anything from here: a forbidden call simply fails inside the student's
code, so the check that needed its result fails, in the visible tests as in the hidden ones.
"""
from __future__ import annotations

import sys
import warnings

MESSAGE = "{what} is not available in this exercise ({operator} was called): implement it yourself"

# Audit events (https://docs.python.org/3/library/audit_events.html) refused once locked.
_REFUSED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile",
    "subprocess.Popen", "pty.spawn", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
})
_GUARDED_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
_REFUSED_PREFIXES = ("ctypes.", "_ctypes.")


class ForbiddenCall(RuntimeError):
    """A forbidden library kernel, ctypes or a new process was asked for inside the sandbox."""


def _dispatch_keys() -> list[str]:
    """Every dispatch key name this build of torch can parse."""
    import torch

    keys = []
    for name in dir(torch._C.DispatchKey):
        if name.startswith("_"):
            continue
        try:
            torch._C._dispatch_has_kernel_for_dispatch_key("aten::add.Tensor", name)
        except RuntimeError:
            continue
        keys.append(name)
    return keys


def _refusing_kernel(message: str):
    def refuse(*args, **kwargs):
        raise ForbiddenCall(message)
    return refuse


def block_operators(families) -> list[str]:
    """Register a raising kernel for every operator of `families` at every key that has a kernel.

    Returns the operators blocked. The library objects holding the registrations are leaked on
    purpose (see `_keep_alive`): deleting them would restore torch's own kernels.
    """
    import torch

    keys = _dispatch_keys()
    libraries: dict[str, object] = {}
    blocked = []
    for operator in torch._C._dispatch_get_all_op_names():
        family = next((f for f in families if f.forbids_operator(operator)), None)
        if family is None:
            continue
        namespace, name = operator.split("::", 1)
        kernel = _refusing_kernel(MESSAGE.format(what=family.what, operator=operator))
        for key in keys:
            if not torch._C._dispatch_has_kernel_for_dispatch_key(operator, key):
                continue
            if namespace not in libraries:
                libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "", "autograder.lockdown", 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Overriding a previously registered kernel": the point
                libraries[namespace].impl(name, key, kernel, False)
        blocked.append(operator)
    for library in libraries.values():
        _keep_alive(library)
    return blocked


def _keep_alive(obj) -> None:
    """Give `obj` one reference nobody holds, so it lives on with no Python path leading to it.

    pybind11 objects are not tracked by the garbage collector, so `gc.get_objects()` cannot find
    it either; and ctypes, the only other way to reach it, is refused once locked.
    """
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _make_audit_hook():
    """The audit hook. Everything it reads is an immutable default (builtins only), and rewriting
    its own defaults or code is refused, so no state the student can reach changes what it does."""
    def audit(event: str, args, _refused=_REFUSED_EVENTS, _prefixes=_REFUSED_PREFIXES,
              _guarded=_GUARDED_ATTRIBUTES, _error=PermissionError, _self=None) -> None:
        if event in _refused or event.startswith(_prefixes) or (
                event == "object.__setattr__" and len(args) > 1 and args[0] is _self and args[1] in _guarded):
            raise _error(f"{event} is not allowed while your code is graded")
    audit.__defaults__ = audit.__defaults__[:-1] + (audit,)
    return audit


def lock(families) -> list[str]:
    """Block the families' kernels, then refuse ctypes and new processes for the rest of the process."""
    import ctypes  # noqa: F401  (imported while still allowed: _keep_alive needs it)

    blocked = block_operators(families)
    sys.addaudithook(_make_audit_hook())
    return blocked
