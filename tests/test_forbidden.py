"""The static forbidden-call scan (autograder/forbidden.py): precise both ways.

Hostile snippets, grouped by the route they take to a library implementation, must each be
flagged; honest snippets (and every correct sample and instructor solution) must not be. The
hostile sample submissions (tests/submissions/hostile_forbidden.py) are checked twice: the scan
flags exactly the part that uses the library, and, run with the library allowed, that part
passes its checks, so no sample fails for a plain mistake hidden behind the defence.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import forbidden, references
from autograder.checks import CheckFailed, LocalImplementation, StudentError, chapter_modules, forbidden_names
from dlcourse import course
from dlcourse.course import grade_id_of
from sample_notebooks import ROOT, SUBMISSIONS, variants

sys.path.insert(0, str(SUBMISSIONS))
from hostile_forbidden import BASES, forbidden_variants, hostile_forbidden_submissions  # noqa: E402

DROPOUT_PARTS = {"dropout_forward", "dropout_backward", "Dropout"}
BATCHNORM_PARTS = {"batchnorm_forward", "batchnorm_backward", "BatchNorm1d", "BatchNorm2d"}
INIT_PARTS = {"fan_in_and_fan_out", "xavier_uniform_bound", "he_uniform_bound"}
INIT_NAMES = {"_calculate_fan_in_and_fan_out", "_calculate_correct_fan", "xavier_uniform_", "xavier_normal_",
              "kaiming_uniform_", "kaiming_normal_", "calculate_gain"}  # chapter 04's FORBIDDEN_NAMES
F = "import torch\nimport torch.nn.functional as F\n"


def scan(source: str, graded=DROPOUT_PARTS | BATCHNORM_PARTS, names=None) -> list[str]:
    return forbidden.findings(source, graded, names)


# -- moved from test_grading_infrastructure.py -------------------------------------------------

@pytest.mark.parametrize("source", [
    "import torch.nn.functional as F\ndef f(x, p):\n    return F.dropout(x, p)",
    "from torch.nn.functional import batch_norm\n",
    "import torch\nclass B(torch.nn.Module):\n    def __init__(s):\n        super().__init__(); s.bn = torch.nn.BatchNorm1d(3)",
    "import torch\nf = getattr(torch.nn.functional, 'drop' + 'out')",
    "import importlib\nF = importlib.import_module('torch.nn.functional')",
    "import torch\ny = torch.ops.aten.native_dropout",
])
def test_forbidden_scan_flags_direct_and_indirect_routes(source):
    assert forbidden.findings(source, {"B"})


def test_forbidden_scan_accepts_an_honest_module():
    source = ("import torch\nfrom torch import nn\nclass Dropout(nn.Module):\n    def __init__(self, p=0.5):\n"
              "        super().__init__()\n        self.p = p\n    def forward(self, x):\n"
              "        if not self.training:\n            return x\n        keep = torch.rand_like(x) >= self.p\n"
              "        return x * keep / (1 - self.p)\n")
    assert forbidden.findings(source, {"Dropout"}) == []


# -- hostile: each class of route, several ways --------------------------------------------------

HOSTILE = {
    "library names": [
        F + "y = F.dropout(x, 0.5)",
        F + "y = torch.dropout(x, 0.5, True)",
        F + "m = torch.nn.Dropout2d(0.5)",
        F + "y = F.rms_norm(x.T, (4,))",
        F + "y = F.normalize(x - x.mean(0), dim=0)",
        F + "y = torch.layer_norm(x, (4,))",
        F + "m = torch.nn.GroupNorm(1, 4)",
        F + "y = torch.nn.utils.weight_norm(layer)",
        F + "y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)",
        F + "m = torch.nn.TransformerEncoderLayer(4, 1).norm1",
        F + "y = torch._fill_mem_eff_dropout_mask_(x, 0.5, 0, 0)",  # not listed: the sandbox family's pattern
        "from torch.nn.functional import dropout as d\n",
        "from torch.nn import LayerNorm\n",
        "import torch.nn.modules.dropout\n",
        "from torch.nn.modules.batchnorm import _BatchNorm\n",
        "import torch\nclass Dropout(torch.nn.modules.dropout._DropoutNd):\n    pass\n",
    ],
    "star imports": [
        "def dropout(x, p, training):\n    raise NotImplementedError\nfrom torch.nn.functional import *\n",
        "class Dropout:\n    def forward(self, x):\n        return dropout(x, 0.5, True)\nfrom torch.nn.functional import *\n",
        "from torch import *\n",
        "from torch.nn import *\n",
        "from dlcourse.training import *\n",  # unknown exports: could be anything
        "from .helpers import *\n",
        "from torch.nn.modules.normalization import *\n",
    ],
    "graded names rebound": [
        "import torch\nclass Dropout(torch.nn.Module):\n    pass\nDropout = torch.nn.Identity\n",
        "from torch.nn import Identity as Dropout\n",
        "class BatchNorm1d:\n    pass\ndef swap():\n    global BatchNorm1d\n    BatchNorm1d = object\n",
        "class Dropout:\n    pass\ndel Dropout\n",
        "for Dropout in (object,):\n    pass\n",
        "with open('x') as Dropout:\n    pass\n",
        "try:\n    pass\nexcept Exception as BatchNorm2d:\n    pass\n",
        "if (Dropout := object):\n    pass\n",
        "def f(Dropout=object):\n    return Dropout\n",
        "import torch.nn as BatchNorm1d\n",
    ],
    "library names the cell defines": [
        "def dropout(x, p):\n    return x\n",
        "def f(x):\n    dropout = x * 2\n    return dropout\n",
        "def layer_norm(x):\n    return x\n",
        "lambda batch_norm: batch_norm\n",
    ],
    "getattr and its aliases": [
        F + "g = getattr\ny = g(F, 'relu')",
        "import builtins\nf = builtins.getattr",
        "import operator\nf = operator.attrgetter\n",
        F + "y = type(F).__getattribute__(F, 'relu')",
        F + "y = object.__getattribute__(F, 'relu')",
        F + "y = F.__getattr__('relu')",
        "import functools\nimport torch\nf = functools.partial(getattr, torch)",
        F + "fs = list(map(getattr, [F], ['relu']))",
        "s = setattr\n",
        "d = delattr\n",
        "v = vars\n",
        "g = globals\n",
        "f = lambda *a: getattr(*a)\n",
    ],
    "computed attribute names": [
        F + "def f(x, name):\n    return getattr(F, name)(x)",
        F + "name = ''\nfor c in (100, 114, 111, 112, 111, 117, 116):\n    name += chr(c)\ny = getattr(F, name)",
        F + "NAME = 'relu'\ndef f(x):\n    return getattr(F, NAME)(x)",  # module level: another cell may rebind it
        F + "k = 'relu'\ndef f(x, g=getattr(F, k)):\n    k = 'tanh'\n    return g(x)",
        F + "def f(self):\n    name = 'relu'\n    def inner():\n        nonlocal name\n        name = input()\n"
            "    inner()\n    return getattr(F, name)",
        F + "def f(self):\n    for name in ('relu', input()):\n        getattr(F, name)",
        "import operator\nf = operator.attrgetter(input())",
        "import operator\nf = operator.methodcaller(input())",
        "def f(m, n):\n    setattr(m, n, 1)",
        "def f(m, n):\n    delattr(m, n)",
        F + "y = getattr(F, *['relu'])",
        # a builtin the folding knows, rebound: only names folded without any call count as literal
        F + "def chr(c):\n    return {1: 'drop', 2: 'out'}[c]\ny = getattr(F, chr(1) + chr(2))",
        F + "import base64\ny = getattr(F, base64.b64decode('cmVsdQ==').decode())",
    ],
    "names built from strings": [
        F + "y = getattr(F, 'drop' + 'out')",
        F + "y = getattr(F, f\"{'drop'}{'out'}\")",
        F + "y = getattr(F, ''.join(['dro', 'pout']))",
        F + "y = getattr(F, 'tuopord'[::-1])",
        F + "y = getattr(F, b'dropout'.decode())",
        F + "y = getattr(F, bytes([100, 114, 111, 112, 111, 117, 116]).decode())",
        F + "y = getattr(F, chr(100) + chr(114) + chr(111) + chr(112) + chr(111) + chr(117) + chr(116))",
        F + "y = getattr(F, ''.join(map(chr, [100, 114, 111, 112, 111, 117, 116])))",
        F + "y = getattr(F, ''.join(chr(c) for c in (100, 114, 111, 112, 111, 117, 116)))",
        F + "y = getattr(F, 'drop%s' % 'out')",
        F + "y = getattr(F, '{}{}'.format('drop', 'out'))",
        F + "y = getattr(F, 'DROPOUT'.lower())",
        F + "y = getattr(F, 'dr_op_out'.replace('_', ''))",
        F + "y = getattr(F, bytes.fromhex('64726f706f7574').decode())",
        F + "import base64\ny = getattr(F, base64.b64decode('ZHJvcG91dA==').decode())",
        F + "import codecs\ny = getattr(F, codecs.decode('qebcbhg', 'rot13'))",
        F + "y = getattr(F, 'x.dropout'.split('.')[1])",
        F + "y = getattr(F, 'batch_' 'norm')",
        F + "y = getattr(F, str(b'rms_norm', 'utf-8'))",
        F + "def f(x):\n    name = 'drop' + 'out'\n    return getattr(F, name)(x)",
        "s = 'torch.nn.functional.dropout'",  # for pydoc.locate, pkgutil.resolve_name, sys.modules...
        "s = 'torch.nn.functional:dropout'",
        "s = 'aten::native_batch_norm'",
        "src = 'import torch\\nout = torch.nn.functional.dropout(x)'",
        "src = 'from torch.nn.functional import dropout as helper'",
        "src = 'y = dropout(x)'",
        "data = b'ctorch.nn.functional\\ndropout\\n.'",
        "s = 'nn.Dropout'",  # a graded name spelled as the library's path
    ],
    "namespace dictionaries": [
        F + "k = input()\ny = vars(F)[k]",
        F + "y = vars(F)['dropout']",
        F + "y = F.__dict__[input()]",
        F + "y = F.__dict__.get(input())",
        F + "y = [v for k, v in vars(F).items() if k.startswith('drop')]",
        F + "globals().update(vars(F))",
        F + "d = dict(vars(F))",
        "y = globals()[input()]",
        "def f():\n    return locals()[input()]",
        "import torch\ny = vars(torch.nn)['Dropout']",  # a graded name, the library's class
        "import sys\ny = sys.modules['torch.nn.functional'].__dict__.values()",
        "g = globals()\n",
        "y = vars()[input()]",
        F + "class X:\n    def m(self, k):\n        return vars(self)[k]\ny = X.m(F, input())",  # any object as self
        F + "def print(d):\n    return d['relu']\ny = print(vars(F))",  # a display builtin rebound
        F + "y = sorted(vars(F).values(), key=str)",
    ],
    "evasive routes": [
        "import importlib\n",
        "from importlib import import_module\n",
        "m = __import__('torch')\n",
        "y = eval('1')\n",
        "exec('x = 1')\n",
        "c = compile('1', 'f', 'eval')\n",
        "import ctypes\n",
        "import torch\ny = torch._C._nn\n",
        "import torch\ny = torch.ops.aten\n",
        "from torch import ops\n",
        "import torch._decomp\n",
        "import torch._refs\n",
        "import torch._prims\n",
        "import torch\nlib = torch.library\n",
        "import torch\nm = torch.overrides\n",
        "import torch.utils._python_dispatch\n",
        "import sys\nf = sys._getframe(0).f_locals\n",
        "import gc\n",
        "import inspect\n",
        "import pickle\n",
        "import pydoc\n",
        "import pkgutil\n",
        "y = ().__class__.__base__.__subclasses__()\n",
        "def f():\n    pass\ng = f.__globals__\n",
        "b = __builtins__\n",
        "import torch\nm = torch.nn.modules\n",
        "class D:\n    pass\ntext = D.__doc__\n",
        "from operator import attrgetter as ag\n",
        "import timeit\n",
        "import cProfile\n",
        "from logging.config import dictConfig\n",
        "from unittest import mock\n",
        "import torch, io\nm = torch.load(io.BytesIO(data), weights_only=False)\n",
    ],
}
HOSTILE_INIT = [  # chapter 04: torch.nn.init is the shortcut, whole
    "import torch\nb = torch.nn.init.calculate_gain('relu')",
    "import torch\nw = torch.nn.init.uniform_(torch.empty(3, 4))",
    "from torch.nn import init\n",
    "from torch.nn import init as weights\n",
    "import torch.nn.init\n",
    "import torch.nn.init as I\n",
    "from torch.nn.init import _calculate_fan_in_and_fan_out as fans\n",
    "from torch.nn.init import *\n",
    "import torch\nhelpers = torch.nn.init\n",
    "import torch\nf = getattr(torch.nn, 'in' + 'it')",
    "import sys\nm = sys.modules['torch.nn.init']",
    "import torch\nf = vars(torch.nn)['init']",
    "def calculate_gain(nonlinearity):\n    return 1.0\n",
    "def kaiming_uniform(w):\n    return w\n",  # a deprecated sibling of a forbidden name
    "import torch\nf = getattr(torch.nn.init, 'calculate' + '_gain')",
]


@pytest.mark.parametrize("source", [s for sources in HOSTILE.values() for s in sources],
                         ids=[f"{route}-{i}" for route, sources in HOSTILE.items() for i in range(len(sources))])
def test_every_route_to_the_library_is_flagged(source):
    assert scan(source), source


@pytest.mark.parametrize("source", HOSTILE_INIT)
def test_every_route_to_torch_nn_init_is_flagged_in_chapter_04(source):
    assert forbidden.findings(source, INIT_PARTS, INIT_NAMES), source


def test_the_scan_flags_what_the_sandbox_family_blocks():
    """Every torch name the sandbox's dropout and normalization families lock is flagged when the
    cell reaches it as an attribute, listed here or not (the scan uses the families' patterns)."""
    import torch
    import torch.nn.functional as functional

    from autograder.families import FAMILIES

    blocked = {name for module in (torch, functional, torch.nn, torch._C._nn) for name in dir(module)
               for family in (FAMILIES["dropout"], FAMILIES["normalization"])
               if family.forbids_python(name) or family.forbids_operator(name)}
    assert {"dropout", "batch_norm", "rms_norm", "_fill_mem_eff_dropout_mask_"} <= blocked
    missed = [name for name in sorted(blocked) if not scan(f"import torch\ny = torch.{name}\n")]
    assert not missed


# -- honest code passes ---------------------------------------------------------------------------

HONEST = [
    # Touching the course's own modules is harmless in the sandbox (nothing there decides a
    # verdict), so it is graded as if it were absent: the forbidden call itself is what fails.
    "import autograder.checks.adapter\n",
    "from autograder import forbidden\nforbidden.LIBRARY_NAMES = frozenset()\n",
    "path = '/work/autograder/checks/__init__.py'\n",
    "def fan_in_and_fan_out(shape):\n    shape = getattr(shape, 'shape', shape)\n    return shape[1], shape[0]",
    "def f(m):\n    return getattr(m, 'training')",
    "import torch\nclass Dropout(torch.nn.Module):\n    def forward(self, x):\n        p = getattr(self, 'p', 0.5)\n        return x",
    "def f(obj):\n    print(vars(obj))\n    vars(obj)",
    "class Dropout:\n    def __repr__(self):\n        return f'Dropout({vars(self)})'\n"
    "    def extra_repr(self):\n        return ', '.join(f'{k}={vars(self)[k]}' for k in ('p', 'training'))\n"
    "    def show(self):\n        print(vars(self), self.__dict__)",
    "def f(obj):\n    return f'{vars(obj)}', repr(vars(obj)), len(vars(obj)), sorted(vars(obj))",
    "if 'np' not in globals():\n    import numpy as np\n",
    "def f(d):\n    return vars(d)['p'], vars(d).get('p'), globals().keys()",
    "import math\ndef he_uniform_bound(fan_in, gain=math.sqrt(2.0)):\n    init = gain * math.sqrt(3 / fan_in)\n    return init",
    "import numpy as np\ndef f(x, p, rng):\n    mask = rng.random(x.shape) >= p\n    return np.where(mask, x / (1 - p), 0.0), mask",
    "import numpy as np\ndef f(x):\n    mean = x.mean(axis=0)\n    var = np.var(x, axis=0)\n    return (x - mean) / np.sqrt(var + 1e-5)",
    "import torch\ndef f(x):\n    var, mean = torch.var_mean(x, dim=0, unbiased=False)\n    return (x - mean) * torch.rsqrt(var + 1e-5)",
    "import torch\ndef f(x):\n    return torch.nn.functional.relu(x) + torch.nn.functional.linear(x, torch.eye(3))",
    "import math\ndef f(shape):\n    return math.prod(shape[2:]), math.sqrt(6.0 / sum(shape[:2]))",
    "def f(self, m, v):\n    setattr(self, 'p', 0.5)\n    for name in ('running_mean', 'running_var'):\n"
    "        getattr(self, name).zero_()\n    for name, value in (('running_mean', m), ('running_var', v)):\n"
    "        getattr(self, name).copy_(value)\n    return {k: getattr(self, k) for k in ('weight', 'bias')}",
    "import torch\nclass M(torch.nn.Module):\n    def f(self):\n        self.eval()\n        return list(self.modules())",
    "import re\npattern = re.compile('x')\n",
    "raise ValueError('inverted dropout needs p in [0, 1], like the batch norm of torch')",
    "def f(p):\n    '''Inverted dropout, unlike torch.nn.functional.dropout, written by hand.'''\n    return p",
    "def f(bn_param):\n    return bn_param.get('mode', 'train') == 'eval'",
    "from math import *\nfrom numpy import *\n",
    "class BatchNorm1d:\n    pass\nclass BatchNorm2d(BatchNorm1d):\n    def __init__(self):\n"
    "        super(BatchNorm2d, self).__init__()",
    "class Dropout:\n    def __repr__(self):\n        return 'Dropout(p=0.5)'\nprint('Dropout')",
    "import torch\nx = torch.empty(3, 4, device='meta')\nhasattr(x, 'shape')\nisinstance(x, torch.Tensor)",
    "def dropout_forward(x, p):\n    return x\ndef dropout_backward(dout, mask, p):\n    return dout\n",
    "from operator import attrgetter\nimport torch\nstate = torch.load('w.pt', weights_only=True)\n",
    "import logging\nlogging.getLogger(__name__).info('ok')\n",
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_code_passes(source):
    assert scan(source) == [], source


def test_honest_code_passes_in_chapter_04_too():
    for source in HONEST:
        assert forbidden.findings(source, INIT_PARTS, INIT_NAMES) == [], source


@pytest.mark.parametrize("chapter", [chapter.name for chapter in course.GRADED if chapter.forbids])
def test_correct_samples_and_instructor_solutions_pass(chapter):
    scanned, graded = forbidden_names(), set(chapter_modules()[chapter].PARTS)
    cells = [(f"{stem}:{part}", part, source) for stem, code in variants(chapter).items()
             if not stem.endswith(("calls_f_dropout", "f_batch_norm")) for part, source in code.items()]
    cells += [(f"solution:{part}", part, source) for part, source in references.solution_cells(chapter).items()]
    for where, part, source in cells:
        assert forbidden.findings(source, graded, scanned[part]) == [], where


# -- messages and limits -----------------------------------------------------------------------------

def test_each_finding_is_short_and_names_what_and_where():
    found = scan(F + "def f(x):\n    return getattr(F, 'drop' + 'out')(x) + F.batch_norm(x)\nimport importlib\n")
    assert found == ["`F.batch_norm` (line 4)", "`dropout` in a string (line 4)", "`getattr` of 'dropout' (line 4)",
                     "imports `importlib` (line 5)"]  # by line, then by text
    long = scan("import torch\ny = torch.nn.functional." + "a" * 300 + ".dropout\n")
    assert all(len(f) < 80 and re.search(r"\(line \d+\)$", f) for f in long), long
    message = forbidden.verdict(found)
    assert message.startswith("may reach a forbidden library implementation: `F.batch_norm` (line 4); ")
    assert message.endswith(". The exercise asks you to implement it yourself.")


@pytest.mark.parametrize("source", [
    "x = 1\n" * 40_000,
    "x = " + "-" * 150_000 + "1",
    "x = a" + ".b" * 60_000,
    "x = " + " + ".join(["'a'"] * 30_000),
    "x = " + "[" * 150 + "]" * 150,  # within the parser's limit, beyond the scan's
    "x = [" * 30_000 + "]" * 30_000,
    "def f():\n" + "".join(" " * i + "if x:\n" for i in range(1, 120)) + " " * 120 + "pass\n",
])
def test_oversized_or_deep_cells_are_refused_not_crashed(source):
    found = scan(source)
    assert len(found) == 1 and re.search(r"too (long|deep) to scan|does not parse", found[0]), found


def test_folding_never_builds_a_large_value():
    bombs = ("x = 'a' * 10**9\ny = 'ab' * 50000 * 50000\nz = ('x' * 9999).replace('x', 'y' * 9999)\n"
             "w = bytes(10**9)\nv = '%999999999s' % 'a'\nu = '{:>999999999}'.format('a')\nt = 2 ** 10 ** 10\n")
    assert scan(bombs) == []


# -- the hostile sample submissions ------------------------------------------------------------------

def test_every_chapter_that_forbids_a_library_has_its_routes():
    assert sorted(BASES) == [chapter.name for chapter in course.GRADED if chapter.forbids]


@pytest.mark.parametrize("chapter", sorted(BASES))
def test_hostile_samples_are_flagged_exactly_in_the_part_that_uses_the_library(chapter):
    scanned, graded = forbidden_names(), set(chapter_modules()[chapter].PARTS)
    built = forbidden_variants(chapter)
    assert sum(part is not None for _, part in built.values()) >= 10
    assert sum(part is None for _, part in built.values()) >= 2
    for name, (code, library_part) in built.items():
        flagged = sorted(part for part, source in code.items() if forbidden.findings(source, graded, scanned[part]))
        assert flagged == ([library_part] if library_part else []), name


@pytest.mark.parametrize("chapter", sorted(BASES))
def test_hostile_samples_expect_every_test_of_the_library_part_to_fail_and_nothing_else(chapter):
    submissions = hostile_forbidden_submissions(chapter)
    for name, (notebook, verdicts) in submissions.items():
        _, part = forbidden_variants(chapter)[name]
        failing = sorted(cell for cell, passed in verdicts.items() if not passed)
        assert failing == (sorted([grade_id_of(part), grade_id_of(part, hidden=True)]) if part else []), name
        code = forbidden_variants(chapter)[name][0]
        sources = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in notebook["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in code}
        assert sources == code, name


class LibraryAllowed(LocalImplementation):
    """The student's objects in this process, with the forbidden-operation log ignored: the checks'
    numbers alone decide."""

    @property
    def forbidden_seen(self) -> set:
        return set()

    @forbidden_seen.setter
    def forbidden_seen(self, value) -> None:
        pass


def library_allowed_verdicts(chapter: str) -> dict[str, dict[str, str | None]]:
    """{variant: {test grade_id: None if it passes, else why}} for the parts each variant changed,
    with the library allowed. Run in a process of its own: a variant empties the grader's lists."""
    module, base = chapter_modules()[chapter], variants(chapter)[BASES[chapter]]
    result = {}
    for name, (code, _) in forbidden_variants(chapter).items():
        namespace = {"__name__": f"submission_{name}"}
        for part, source in code.items():
            exec(compile(source, f"{name}:{part}", "exec"), namespace)
        result[name] = {}
        for part in (p for p in code if code[p] != base[p]):
            for hidden in (False, True):
                try:
                    module.PARTS[part](LibraryAllowed(dict(namespace)), hidden)
                    outcome = None
                except (CheckFailed, StudentError) as failure:
                    outcome = str(failure)
                result[name][grade_id_of(part, hidden)] = outcome
    return result


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(BASES))
def test_hostile_samples_are_correct_code_when_the_library_is_allowed(chapter):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
    child = subprocess.run([sys.executable, __file__, chapter], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    verdicts = json.loads(child.stdout.splitlines()[-1])
    assert sorted(verdicts) == sorted(forbidden_variants(chapter))
    wrong = {name: {cell: why for cell, why in cells.items() if why is not None} for name, cells in verdicts.items()}
    assert not {name: cells for name, cells in wrong.items() if cells}
    assert all(len(cells) == 2 for cells in verdicts.values()), verdicts  # each variant changed one part


if __name__ == "__main__":
    print(json.dumps(library_allowed_verdicts(sys.argv[1])))
