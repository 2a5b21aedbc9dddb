"""Static half of the forbidden-call check: what the student's source mentions.

The dynamic half (the adapter's operation log) sees what runs; this sees what is written,
including the indirect routes around the log: getattr with a string, __import__, eval/exec,
torch._C, torch.ops, _VF, dispatch-mode and profiler internals.
"""
from __future__ import annotations

import ast

LIBRARY_NAMES = {
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "feature_dropout", "native_dropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout",
    "batch_norm", "native_batch_norm", "_native_batch_norm_legit", "BatchNorm1d", "BatchNorm2d",
    "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "SyncBatchNorm",
    "instance_norm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "layer_norm",
    "LayerNorm", "group_norm", "GroupNorm", "functional_call",
}
EVASIVE_CALLS = {"getattr", "__import__", "eval", "exec", "compile", "globals", "vars", "setattr", "delattr"}
EVASIVE_ATTRIBUTES = {"_C", "ops", "_VF", "_python_dispatch", "_dispatch", "overrides", "modules",
                      "__dict__", "__builtins__", "__globals__", "__code__", "profiler"}
EVASIVE_MODULES = {"importlib", "ctypes", "gc", "inspect", "builtins", "torch._C", "torch.overrides",
                   "torch.utils._python_dispatch", "torch._VF", "cffi"}


def verdict(found: list[str]) -> str:
    """The failure message for a part whose source has findings: the same words locally and in grading."""
    return ("may reach a forbidden library implementation: " + "; ".join(found)
            + ". The exercise asks you to implement it yourself.")


def findings(source: str, own_names: set[str], library_names: set[str] | None = None) -> list[str]:
    """Why `source` may reach a forbidden library implementation; empty when it cannot tell.

    library_names: the names the exercise forbids (a chapter's FORBIDDEN_NAMES); by default the
    dropout and normalization names of chapters 02 and 03.
    """
    library_names = LIBRARY_NAMES if library_names is None else library_names
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"the cell does not parse ({exc.msg}, line {exc.lineno})"]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in library_names:
                found.append(f"uses `.{node.attr}` from the library")
            elif node.attr in EVASIVE_ATTRIBUTES:
                found.append(f"reaches into `.{node.attr}`")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, "module", None) or ""
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if alias.name in library_names:
                    found.append(f"imports `{alias.name}`")
                roots = {full, module, alias.name, full.split(".")[0]}
                if roots & EVASIVE_MODULES:
                    found.append(f"imports `{full}`")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in EVASIVE_CALLS:
            found.append(f"calls `{node.func.id}()`")
        elif isinstance(node, ast.Name) and node.id in library_names and node.id not in own_names:
            found.append(f"uses `{node.id}`")
    return sorted(set(found))
