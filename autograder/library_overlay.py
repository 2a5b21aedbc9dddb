"""The library as the sandbox sees it: torch's own Python implementations of a forbidden family removed.

Some of torch's implementations are pure Python over elementary operators, so blocking kernels
in the dispatcher (`autograder.lockdown`) cannot see them: torch.nn.init's helpers, the
decompositions in torch._decomp and the reference implementations in torch._refs (for instance
`torch._decomp.decompositions.native_batch_norm`, or `torch._refs._normalize`). For each family,
this module writes a copy of every library source file that defines a function or class of the
family, with the body of each such function (and of each method of such a class) replaced by a
`raise`, compiles it, and the sandbox mounts the copy and its bytecode over the original
(`sandbox.worker_command`). Inside the sandbox the original code is simply not there: not in
memory, not on disk, not in a `.pyc`, so no trick inside the student's process can bring it back.

Decorators, signatures and every other line stay as they were, and a function that `import torch`
itself calls (a registration helper whose name happens to match) is left alone, so importing
torch works unchanged.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from autograder.families import Family

# The library packages a family is looked for in (inside site-packages).
LIBRARY_PACKAGES = ("torch", "torchvision")
MESSAGE = "{what} is not available in this exercise ({where} was called): implement it yourself"
_DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", re.M)


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _library_files(root: Path) -> list[Path]:
    files = []
    for package in LIBRARY_PACKAGES:
        if (root / package).is_dir():
            files += sorted((root / package).rglob("*.py"))
    return files


_PROFILE_IMPORT = """
import json, sys
called = set()
def record(frame, event, arg):
    if event == "call":
        called.add((frame.f_code.co_filename, frame.f_code.co_firstlineno))
sys.setprofile(record)
import torch
sys.setprofile(None)
print(json.dumps(sorted(called)))
"""


def called_at_import() -> set[tuple[str, int]]:
    """(file, first line) of every Python function that `import torch` runs, measured in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-I", "-c", _PROFILE_IMPORT], capture_output=True, text=True,
                            timeout=600, check=True)
    return {(file, line) for file, line in json.loads(result.stdout)}


def _defines_family(text: str, family: Family) -> bool:
    return any(family.forbids_python(name) for name in _DEFINITION.findall(text))


def _raising_body(what: str, where: str) -> list[ast.stmt]:
    message = MESSAGE.format(what=what, where=where)
    return [ast.Raise(exc=ast.Call(func=ast.Name("RuntimeError", ast.Load()), args=[ast.Constant(message)],
                                   keywords=[]), cause=None)]


class _RemoveFamilies(ast.NodeTransformer):
    """Replace the body of every function of the families, and of every method of a class of them.

    `whole` families forbid every top-level function of the module; functions whose first line
    is in `keep_lines` (they run during `import torch`) are left alone.
    """

    def __init__(self, families: list[Family], whole: list[Family], module: str, keep_lines: set[int]):
        self.families = families
        self.whole = whole
        self.module = module
        self.keep_lines = keep_lines
        self.scope: list[str] = []
        self.family_classes: list[Family] = []
        self.removed = 0

    def _family_of(self, name: str) -> Family | None:
        if self.family_classes:
            return self.family_classes[-1]
        found = next((f for f in self.families if f.forbids_python(name)), None)
        return found or (self.whole[0] if self.whole and not self.scope else None)

    def _function(self, node):
        first_line = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        family = None if first_line in self.keep_lines else self._family_of(node.name)
        if family is not None:
            node.body = _raising_body(family.what, ".".join([self.module, *self.scope, node.name]))
            self.removed += 1
            return node
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node):
        family = next((f for f in self.families if f.forbids_python(node.name)), None)
        self.scope.append(node.name)
        if family:
            self.family_classes.append(family)
        self.generic_visit(node)
        if family:
            self.family_classes.pop()
        self.scope.pop()
        return node


def sanitised_source(text: str, families: list[Family], module: str, whole: list[Family] = (),
                     keep_lines: set[int] = frozenset()) -> tuple[str, int]:
    """`text` with the families' functions made to raise (but those starting on `keep_lines`);
    and how many were replaced."""
    tree = ast.parse(text)
    remover = _RemoveFamilies(list(families), list(whole), module, set(keep_lines))
    tree = ast.fix_missing_locations(remover.visit(tree))
    return ast.unparse(tree) + "\n", remover.removed


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _fingerprint(families: list[Family], files: list[Path]) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr([(f.name, f.python.pattern, f.whole_modules) for f in families]).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def build(families: list[Family], cache: Path) -> list[tuple[str, str]]:
    """Write the sanitised copies for `families` under `cache`; return (copy, original) pairs to mount.

    Each original `.py` gets its copy, and each existing `.pyc` of it gets the copy's bytecode,
    so neither the source nor the compiled original is readable in the sandbox. Cached: a second
    call with the same library and families reuses the files.
    """
    if not families:
        return []
    root = site_packages()
    files = _library_files(root)
    target = cache / _fingerprint(families, files)
    manifest = target / "mounts.txt"
    if manifest.is_file():
        return [tuple(line.split("\t")) for line in manifest.read_text().splitlines() if line]
    # Built in a folder of its own and renamed into place when whole: two graders starting at
    # once never mount a half-written copy (the second one's work is simply dropped).
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
    keep: dict[str, set[int]] = {}
    for file, line in called_at_import():
        keep.setdefault(file, set()).add(line)
    pairs = []  # (relative path of a file in the built folder, original path)
    for path in files:
        relative = path.relative_to(root)
        text = path.read_text(encoding="utf-8")
        whole = [f for f in families if str(relative) in f.whole_modules]
        if not whole and not any(_defines_family(text, f) for f in families):
            continue
        text, removed = sanitised_source(text, families, _module_name(relative), whole, keep.get(str(path), set()))
        if not removed:
            continue  # the pattern matched a comment or a string, not a definition
        copy = building / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text, encoding="utf-8")
        os.chmod(copy, 0o644)
        compiled = building / "bytecode" / relative.with_suffix(".pyc")
        compiled.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(str(copy), cfile=str(compiled), dfile=str(path), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        os.chmod(compiled, 0o644)
        pairs.append((relative, path))
        cached = path.parent / "__pycache__"
        for original_pyc in sorted(cached.glob(f"{path.stem}.*.pyc")) if cached.is_dir() else []:
            pairs.append((Path("bytecode") / relative.with_suffix(".pyc"), original_pyc))
    (building / "mounts.txt").write_text("".join(f"{target / rel}\t{original}\n" for rel, original in pairs))
    for folder in [building, *(p for p in building.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    try:
        os.rename(building, target)
    except OSError:  # another grader got there first: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return [tuple(line.split("\t")) for line in manifest.read_text().splitlines() if line]
