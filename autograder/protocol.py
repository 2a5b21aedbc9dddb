"""The wire format between the trusted checker and the sandboxed worker: JSON lines.

Never pickle: unpickling bytes the student's process wrote would run the student's code in the
trusted process. Arrays travel as {"__nd__": [dtype, shape, base64 bytes]} and only boolean,
integer and floating dtypes are accepted; anything else the student's code returns stays in the
worker and travels as a handle {"__handle__": n}.
"""
from __future__ import annotations

import base64
import json

import numpy as np

ALLOWED_KINDS = set("biuf")  # bool, signed and unsigned int, float
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_TEXT = 2000  # characters of any text (an exception message, say) either side sends or quotes


class ProtocolError(RuntimeError):
    """A message that is not well-formed: the worker crashed mid-write or was tampered with."""


def encode(value) -> object:
    """Python value (arrays, scalars, lists/tuples/dicts of them) -> JSON-ready structure.

    Objects with a `__wire__()` method (handles, Rng stand-ins) describe themselves.
    """
    if hasattr(type(value), "__wire__"):
        return value.__wire__()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in ALLOWED_KINDS:
            raise ProtocolError(f"arrays of dtype {value.dtype} cannot be sent")
        array = np.require(value, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        return {"__nd__": [array.dtype.str, list(array.shape), base64.b64encode(array.tobytes()).decode("ascii")]}
    if isinstance(value, np.generic):
        return encode(np.asarray(value))
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ProtocolError("only dicts with string keys can be sent")
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ProtocolError(f"cannot send a {type(value).__name__}")


def decode(data) -> object:
    """Inverse of encode; rebuilds plain base-class ndarrays and rejects any other dtype."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "__nd__" in data:
            dtype_str, shape, payload = data["__nd__"]
            dtype = np.dtype(dtype_str)
            if dtype.kind not in ALLOWED_KINDS:
                raise ProtocolError(f"refused an array of dtype {dtype}")
            raw = base64.b64decode(payload, validate=True)
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if len(raw) != count * dtype.itemsize:
                raise ProtocolError("array payload does not match its shape")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if "__tuple__" in data:
            return tuple(decode(v) for v in data["__tuple__"])
        if "__dict__" in data:
            return {str(k): decode(v) for k, v in data["__dict__"].items()}
        if "__handle__" in data:
            return Handle(int(data["__handle__"]))
        if "__rng__" in data:
            return RngRequest(int(data["__rng__"]))
        raise ProtocolError(f"unknown object with keys {sorted(data)[:5]}")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    raise ProtocolError(f"unexpected JSON value {type(data).__name__}")


class Handle:
    """A worker-side object (cache, module) that the checker can only name."""

    def __init__(self, number: int):
        self.number = number

    def __repr__(self) -> str:
        return f"Handle({self.number})"

    def __wire__(self) -> dict:
        return {"__handle__": self.number}


class RngRequest:
    """Decoded on the worker side into numpy.random.default_rng(seed)."""

    def __init__(self, seed: int):
        self.seed = seed


def dumps(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict:
    if len(line) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"malformed message ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message
