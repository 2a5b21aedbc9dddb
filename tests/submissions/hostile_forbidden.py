"""Submissions that reach the library implementation their exercise forbids, one route each, and
honest code that the forbidden-call defence must leave alone.

Every variant is a correct sample (tests/submissions/<chapter>/correct_*.py) with one graded part
rewritten. A hostile variant's part still computes the right thing, through the library: with the
library allowed it would get full marks (tests/test_forbidden.py runs it so, in a process where
nothing is blocked), so only the forbidden-call defence can fail it. Its expected verdicts: every
test cell of that part fails, visible and hidden; every other part passes. An honest variant gets
full marks.

The routes, per chapter where they apply: the plain direct call; a star import rebinding a stub;
getattr through an alias (a variable, builtins, __getattribute__); names built from strings
(concatenation, f-strings, joins, slices, chr, bytes); operator.attrgetter; importlib and
__import__; eval; a thread inside the graded code; the course's own modules imported and their
lists emptied first; torch._decomp and torch._refs implementations and torch.ops; a namespace
read with a computed key; the graded name rebound; for 03, rms_norm (and layer, group, instance
norm) over the transposed, centred input, which is batch normalization exactly; for 04,
torch.nn.init reached through an alias.
"""
from __future__ import annotations

import copy
import json

from dlcourse.course import grade_id_of
from sample_notebooks import expected, fill_in, variants

BASES = {"02_dropout": "correct_bool_mask", "03_batchnorm": "correct_reference", "04_initialization": "correct_math"}

# A name the scan cannot work out: spelled backwards and reversed by a function of the cell at run
# time, so that a variant exercises its own route and not the string folding.
SPELL = '''

def _spelled(backwards):
    """The name, reversed at run time."""
    return backwards[::-1]'''

# The course's own modules imported, and every list of forbidden names or operations emptied.
CLEAR_COURSE_LISTS = '''import autograder.checks.adapter as _adapter
import autograder.forbidden as _forbidden


def _clear_course_lists():
    """Empty the grader's lists of forbidden names and operations, as far as this process sees them."""
    for module in (_adapter, _forbidden):
        for key, value in list(vars(module).items()):
            if key.isupper() and ("FORBIDDEN" in key or key.endswith("NAMES")):
                setattr(module, key, type(value)())'''


def _rewrite(source: str, old: str, new: str, prelude: str = "", epilogue: str = "") -> str:
    """`source` with `old` replaced by `new`, `prelude` after its imports and `epilogue` at the end."""
    assert source.count(old) == 1, f"the correct sample changed: update {__file__}"
    changed = source.replace(old, new)
    if prelude:
        changed = changed.replace("\n\n\nclass ", "\n" + prelude + "\n\n\nclass ", 1)
    return changed.rstrip("\n") + "\n" + (f"\n\n{epilogue}\n" if epilogue else "")


# ---------------------------------------------------------------------------------------------
# 02 dropout: the Dropout module masks through torch's dropout
# ---------------------------------------------------------------------------------------------
MASK = "        mask = torch.rand_like(x) >= self.p\n        return x * mask / (1.0 - self.p)"
F = "import torch.nn.functional as F"
CALL = "(x, self.p, True)"  # F.dropout(x, p, training)
STUB_DROPOUT = '''

def dropout(x, p, training):
    raise NotImplementedError("my own dropout, to be written")'''


def _dropout_routes() -> dict[str, tuple[str, str, str]]:
    """{variant: (prelude, the masking lines of forward, epilogue)}."""
    ret = "        return "
    return {
        "forbidden_direct_functional": (F, ret + "F.dropout" + CALL, ""),
        "forbidden_direct_module": ("", ret + "nn.Dropout(self.p)(x)", ""),
        "forbidden_star_import_stub": (STUB_DROPOUT + "\n\n\nfrom torch.nn.functional import *", ret + "dropout" + CALL, ""),
        "forbidden_star_import_after_class": (STUB_DROPOUT, ret + "dropout" + CALL, "from torch.nn.functional import *"),
        "forbidden_getattr_alias": (F + SPELL + "\n\n\n_lookup = getattr", ret + "_lookup(F, _spelled('tuopord'))" + CALL, ""),
        "forbidden_getattr_builtins": ("import builtins\n" + F + SPELL, ret + "builtins.getattr(F, _spelled('tuopord'))" + CALL, ""),
        "forbidden_getattr_computed": (F + SPELL, ret + "getattr(F, _spelled('tuopord'))" + CALL, ""),
        "forbidden_object_getattribute": (F + SPELL, ret + "object.__getattribute__(F, _spelled('tuopord'))" + CALL, ""),
        "forbidden_type_getattribute": (F + SPELL, ret + "type(F).__getattribute__(F, _spelled('tuopord'))" + CALL, ""),
        "forbidden_attrgetter": ("import operator", ret + "operator.attrgetter('nn.functional.' + 'drop' + 'out')(torch)" + CALL, ""),
        "forbidden_name_concatenated": (F, ret + "getattr(F, 'drop' + 'out')" + CALL, ""),
        "forbidden_name_fstring": (F, ret + "getattr(F, f\"{'pord'[::-1]}{'tuo'[::-1]}\")" + CALL, ""),
        "forbidden_name_joined": (F, ret + "getattr(F, ''.join(['dro', 'pout']))" + CALL, ""),
        "forbidden_name_chr": (F + "\n\n_NAME = ''.join(map(chr, (100, 114, 111, 112, 111, 117, 116)))",
                               ret + "getattr(F, _NAME)" + CALL, ""),
        "forbidden_name_bytes": (F, ret + "vars(F)[bytes.fromhex('64726f706f7574').decode()]" + CALL, ""),
        "forbidden_vars_computed_key": (F + SPELL, ret + "vars(F)[_spelled('tuopord')]" + CALL, ""),
        "forbidden_dict_get": (F + SPELL, ret + "F.__dict__.get(_spelled('tuopord'))" + CALL, ""),
        "forbidden_importlib": ("import importlib" + SPELL,
                                ret + "getattr(importlib.import_module('torch.nn.functional'), _spelled('tuopord'))" + CALL, ""),
        "forbidden_dunder_import": (SPELL.lstrip("\n"),
                                    ret + "vars(__import__('torch.nn.functional', fromlist=['F']))[_spelled('tuopord')]" + CALL, ""),
        "forbidden_eval": (F + SPELL, ret + "eval('F.' + _spelled('tuopord'))" + CALL, ""),
        "forbidden_thread": ("import threading\n" + F,
                             "        result = []\n"
                             "        worker = threading.Thread(target=lambda: result.append(F.dropout" + CALL + "))\n"
                             "        worker.start()\n        worker.join()\n" + ret + "result[0]", ""),
        "forbidden_course_modules": (F + "\n" + CLEAR_COURSE_LISTS, "        _clear_course_lists()\n" + ret + "F.dropout" + CALL, ""),
        "forbidden_decompositions": ("import torch._decomp.decompositions as _decompositions",
                                     ret + "_decompositions.native_dropout" + CALL + "[0]", ""),
        "forbidden_refs": ("import torch._refs.nn.functional as _reference", ret + "_reference.dropout" + CALL, ""),
        "forbidden_aten_ops": ("", ret + "torch.ops.aten.native_dropout" + CALL + "[0]", ""),
        "forbidden_rebinds_graded_name": ("", MASK, "Dropout = nn.Dropout"),
        "forbidden_global_rebinding": (SPELL.lstrip("\n"), MASK,
                                       "def _swap():\n    global Dropout\n    Dropout = getattr(nn, _spelled('tuoporD'))\n\n\n_swap()"),
    }


HONEST_DROPOUT = {
    "honest_vars_in_repr": MASK + '''

    def extra_repr(self):
        return f"p={vars(self)['p']}"

    def __repr__(self):
        return f"Dropout({vars(self)})"

    def describe(self):
        print(vars(self))''',
    "honest_getattr_literal": "        p = getattr(self, \"p\", 0.5)\n        mask = torch.rand_like(x) >= p\n"
                              "        return x * mask / (1.0 - getattr(self, \"p\"))",
}


def _dropout_variants(code: dict[str, str]) -> dict[str, tuple[dict[str, str], str | None]]:
    built = {name: (dict(code, Dropout=_rewrite(code["Dropout"], MASK, body, prelude, epilogue)), "Dropout")
             for name, (prelude, body, epilogue) in _dropout_routes().items()}
    built.update({name: (dict(code, Dropout=_rewrite(code["Dropout"], MASK, body)), None)
                  for name, body in HONEST_DROPOUT.items()})
    return built


# ---------------------------------------------------------------------------------------------
# 03 batch normalization: BatchNorm1d or BatchNorm2d normalises (train mode) through the library
# ---------------------------------------------------------------------------------------------
X_HAT = "        x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)\n"
RUNNING_X_HAT = "            x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)\n"
BATCH_NORM = "(x, None, None, training=True, eps=self.eps)"  # F.batch_norm: batch statistics, no affine
NATIVE = "(x, None, None, None, None, True, 0.0, self.eps)[0]"  # native_batch_norm's output
ROWS = "            rows = x.transpose(0, 1).reshape(x.shape[1], -1)\n"  # one row per channel
UNROWS = "            x_hat = normed.reshape(x.transpose(0, 1).shape).transpose(0, 1)\n"
STUB_BATCH_NORM = '''

def batch_norm(*args, **kwargs):
    raise NotImplementedError("my own batch norm, to be written")'''
CENTRED_RMS = ("            centred = (x - mean.reshape(shape)).transpose(0, 1)\n"
               "            rows = centred.reshape(centred.shape[0], -1)\n"
               "            normed = F.rms_norm(rows, (rows.shape[1],), eps=self.eps)\n"
               "            x_hat = normed.reshape(centred.shape).transpose(0, 1)\n")


def _train_x_hat(lines: str) -> str:
    """Train mode normalises with `lines` (the library); eval mode with the running statistics, by hand."""
    return "        if self.training:\n" + lines + "        else:\n" + RUNNING_X_HAT


def _batchnorm_routes() -> dict[str, tuple[str, str, str]]:
    """{variant: (part, prelude, the train-mode lines that set x_hat)}."""
    x_hat = "            x_hat = "
    return {
        "forbidden_direct_functional": ("BatchNorm1d", F, x_hat + "F.batch_norm" + BATCH_NORM + "\n"),
        "forbidden_direct_module": ("BatchNorm2d", "", x_hat + "nn.BatchNorm2d(self.num_features, eps=self.eps, affine=False, "
                                                       "track_running_stats=False)(x)\n"),
        "forbidden_rms_norm_centred": ("BatchNorm1d", F, CENTRED_RMS),
        "forbidden_layer_norm_transposed": ("BatchNorm1d", F, ROWS + "            normed = F.layer_norm(rows, (rows.shape[1],), "
                                                                     "eps=self.eps)\n" + UNROWS),
        "forbidden_group_norm_transposed": ("BatchNorm2d", F, ROWS + "            normed = F.group_norm(rows[None], rows.shape[0], "
                                                                     "eps=self.eps)[0]\n" + UNROWS),
        "forbidden_instance_norm_transposed": ("BatchNorm2d", F, ROWS + "            normed = F.instance_norm(rows[None], "
                                                                        "eps=self.eps)[0]\n" + UNROWS),
        "forbidden_star_import_stub": ("BatchNorm1d", STUB_BATCH_NORM + "\n\n\nfrom torch.nn.functional import *",
                                       x_hat + "batch_norm" + BATCH_NORM + "\n"),
        "forbidden_getattr_alias": ("BatchNorm1d", F + SPELL + "\n\n\n_lookup = getattr",
                                    x_hat + "_lookup(F, _spelled('mron_hctab'))" + BATCH_NORM + "\n"),
        "forbidden_name_reversed": ("BatchNorm1d", F, x_hat + "getattr(F, 'mron_hctab'[::-1])" + BATCH_NORM + "\n"),
        "forbidden_name_chr": ("BatchNorm2d", F + "\n\n_NAME = chr(114) + chr(109) + chr(115) + '_' + chr(110) + 'orm'",
                               CENTRED_RMS.replace("F.rms_norm", "getattr(F, _NAME)")),
        "forbidden_attrgetter": ("BatchNorm1d", "import operator\n" + F,
                                 x_hat + "operator.attrgetter('batch' + '_norm')(F)" + BATCH_NORM + "\n"),
        "forbidden_vars_computed_key": ("BatchNorm1d", F + SPELL,
                                        CENTRED_RMS.replace("F.rms_norm", "vars(F)[_spelled('mron_smr')]")),
        "forbidden_importlib": ("BatchNorm1d", "import importlib" + SPELL,
                                x_hat + "getattr(importlib.import_module('torch.nn.functional'), _spelled('mron_hctab'))"
                                + BATCH_NORM + "\n"),
        "forbidden_dunder_import": ("BatchNorm2d", SPELL.lstrip("\n"),
                                    x_hat + "vars(__import__('torch.nn.functional', fromlist=['F']))[_spelled('mron_hctab')]"
                                    + BATCH_NORM + "\n"),
        "forbidden_thread": ("BatchNorm1d", "import threading\n" + F,
                             "            result = []\n"
                             "            worker = threading.Thread(target=lambda: result.append(F.batch_norm" + BATCH_NORM + "))\n"
                             "            worker.start()\n            worker.join()\n" + x_hat + "result[0]\n"),
        "forbidden_course_modules": ("BatchNorm2d", F + "\n" + CLEAR_COURSE_LISTS,
                                     "            _clear_course_lists()\n" + x_hat + "F.batch_norm" + BATCH_NORM + "\n"),
        "forbidden_decompositions": ("BatchNorm1d", "import torch._decomp.decompositions as _decompositions",
                                     x_hat + "_decompositions.native_batch_norm" + NATIVE + "\n"),
        "forbidden_refs_layer_norm": ("BatchNorm2d", "import torch._refs.nn.functional as _reference",
                                      ROWS + "            normed = _reference.layer_norm(rows, (rows.shape[1],), eps=self.eps)\n"
                                      + UNROWS),
        "forbidden_aten_ops": ("BatchNorm2d", "", x_hat + "torch.ops.aten.native_batch_norm" + NATIVE + "\n"),
    }


RUNNING_UPDATE = ("                self.running_mean.copy_((1 - m) * self.running_mean + m * mean)\n"
                  "                self.running_var.copy_((1 - m) * self.running_var + m * var * count / (count - 1))\n")
HONEST_BATCHNORM = {
    # a repr and a debugging helper that show the module's own attributes
    "honest_vars_in_repr": ("BatchNorm1d", "        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)\n",
                            "        return self.weight.reshape(shape) * x_hat + self.bias.reshape(shape)\n\n"
                            "    def extra_repr(self):\n"
                            "        return \", \".join(f\"{k}={vars(self)[k]}\" for k in (\"num_features\", \"eps\", \"momentum\"))\n\n"
                            "    def describe(self):\n        print(vars(self))\n"),
    # the running statistics updated through getattr with names the loop spells out
    "honest_getattr_buffers": ("BatchNorm2d", RUNNING_UPDATE,
                               "                for name, batch in ((\"running_mean\", mean), (\"running_var\", var * count / (count - 1))):\n"
                               "                    getattr(self, name).copy_((1 - m) * getattr(self, name) + m * batch)\n"),
}
# BatchNorm2d as the sibling graded class, reused: the scan exempts the graded names it does not rebind.
SIBLING_BATCHNORM2D = '''import torch
from torch import nn


class BatchNorm2d(BatchNorm1d):
    """BatchNorm1d's statistics over N and H * W, on (N, C, H, W) inputs."""

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}, H, W), got {tuple(x.shape)}")
        n, c, h, w = x.shape
        return super().forward(x.reshape(n, c, h * w)).reshape(n, c, h, w)
'''


def _batchnorm_variants(code: dict[str, str]) -> dict[str, tuple[dict[str, str], str | None]]:
    built = {}
    for name, (part, prelude, lines) in _batchnorm_routes().items():
        built[name] = (dict(code, **{part: _rewrite(code[part], X_HAT, _train_x_hat(lines), prelude)}), part)
    for name, (part, old, new) in HONEST_BATCHNORM.items():
        built[name] = (dict(code, **{part: _rewrite(code[part], old, new)}), None)
    built["honest_sibling_subclass"] = (dict(code, BatchNorm2d=SIBLING_BATCHNORM2D), None)
    return built


# ---------------------------------------------------------------------------------------------
# 04 initialization: fans and gains from torch.nn.init
# ---------------------------------------------------------------------------------------------
META = "torch.empty(tuple(shape), device=\"meta\")"  # a weight of that shape, no memory allocated
STUB_GAIN = '''

def calculate_gain(nonlinearity, param=None):
    raise NotImplementedError("my own gain, to be written")'''


def _fans(prelude: str, expression: str) -> str:
    return f"{prelude}\n\n\ndef fan_in_and_fan_out(shape):\n    return {expression}\n"


def _xavier(prelude: str, fans: str) -> str:
    """Xavier's bound with the fans the library computes for a (fan_out, fan_in) weight (`fans`)."""
    return (f"{prelude}\n\n\ndef xavier_uniform_bound(fan_in, fan_out, gain=1.0):\n"
            f"    fan_in, fan_out = {fans}(torch.empty(fan_out, fan_in, device=\"meta\"))\n"
            "    return gain * math.sqrt(6.0 / (fan_in + fan_out))\n")


def _he(prelude: str, gain: str) -> str:
    """He's bound with the library's ReLU gain (`gain`, evaluated once, as the default)."""
    return f"{prelude}\n\n\ndef he_uniform_bound(fan_in, gain={gain}):\n    return gain * math.sqrt(3.0 / fan_in)\n"


def _initialization_routes() -> dict[str, tuple[str, str]]:
    """{variant: (part, its whole cell)}."""
    torch_math = "import math\n\nimport torch"
    return {
        "forbidden_direct_fans": ("fan_in_and_fan_out", _fans("import torch", f"torch.nn.init._calculate_fan_in_and_fan_out({META})")),
        "forbidden_direct_gain": ("he_uniform_bound", _he(torch_math, "torch.nn.init.calculate_gain(\"relu\")")),
        "forbidden_init_module_alias": ("xavier_uniform_bound",
                                        _xavier(torch_math + "\nfrom torch.nn import init as weights",
                                                "weights._calculate_fan_in_and_fan_out")),
        "forbidden_init_import_alias": ("he_uniform_bound",
                                        _he(torch_math + "\nimport torch.nn.init as _weights" + SPELL,
                                            "getattr(_weights, _spelled('niag_etaluclac'))('relu')")),
        "forbidden_init_variable_alias": ("fan_in_and_fan_out",
                                          _fans("import torch\n\n_helpers = torch.nn.init" + SPELL,
                                                f"getattr(_helpers, _spelled('tuo_naf_dna_ni_naf_etaluclac_'))({META})")),
        "forbidden_star_import_stub": ("he_uniform_bound", _he("import math" + STUB_GAIN + "\n\n\nfrom torch.nn.init import *",
                                                               "calculate_gain(\"relu\")")),
        "forbidden_name_concatenated": ("fan_in_and_fan_out",
                                        _fans("import torch", f"getattr(torch.nn, 'in' + 'it')._calculate_fan_in_and_fan_out({META})")),
        "forbidden_sys_modules": ("fan_in_and_fan_out",
                                  _fans("import sys\n\nimport torch",
                                        f"vars(sys.modules['torch.nn.' + 'init'])['_calculate_' + 'fan_in_and_fan_out']({META})")),
        "forbidden_attrgetter": ("xavier_uniform_bound",
                                 _xavier(torch_math + "\nimport operator",
                                         "operator.attrgetter('nn.' + 'init._calculate_fan_in_and_fan_out')(torch)")),
        "forbidden_importlib": ("he_uniform_bound", _he("import importlib\nimport math",
                                                        "importlib.import_module('torch.nn.init').calculate_gain(\"relu\")")),
        "forbidden_dunder_import": ("fan_in_and_fan_out",
                                    _fans("import torch" + SPELL,
                                          f"getattr(__import__('torch.nn.init', fromlist=['x']), "
                                          f"_spelled('tuo_naf_dna_ni_naf_etaluclac_'))({META})")),
        "forbidden_thread": ("fan_in_and_fan_out",
                             "import threading\n\nimport torch\n\n\ndef fan_in_and_fan_out(shape):\n"
                             "    result = []\n    error = []\n\n"
                             "    def work():\n        try:\n"
                             f"            result.append(torch.nn.init._calculate_fan_in_and_fan_out({META}))\n"
                             "        except ValueError as exc:\n            error.append(exc)\n\n"
                             "    worker = threading.Thread(target=work)\n    worker.start()\n    worker.join()\n"
                             "    if error:\n        raise error[0]\n    return result[0]\n"),
        "forbidden_course_modules": ("he_uniform_bound",
                                     "import math\n\nimport torch\n" + CLEAR_COURSE_LISTS +
                                     "\n\n\ndef he_uniform_bound(fan_in, gain=None):\n    _clear_course_lists()\n"
                                     "    gain = torch.nn.init.calculate_gain(\"relu\") if gain is None else gain\n"
                                     "    return gain * math.sqrt(3.0 / fan_in)\n"),
    }


HONEST_INITIALIZATION = {
    # a weight tensor or its shape, both accepted: getattr with a literal, harmless name
    "honest_getattr_shape": ("fan_in_and_fan_out", "    shape = tuple(shape)\n",
                             "    shape = tuple(getattr(shape, \"shape\", shape))\n"),
    # a local variable called init
    "honest_init_variable": ("he_uniform_bound", "    return gain * math.sqrt(3.0 / fan_in)\n",
                             "    init = gain * math.sqrt(3.0 / fan_in)\n    return init\n"),
}


def _initialization_variants(code: dict[str, str]) -> dict[str, tuple[dict[str, str], str | None]]:
    built = {name: (dict(code, **{part: source}), part) for name, (part, source) in _initialization_routes().items()}
    for name, (part, old, new) in HONEST_INITIALIZATION.items():
        built[name] = (dict(code, **{part: _rewrite(code[part], old, new)}), None)
    return built


BUILDERS = {"02_dropout": _dropout_variants, "03_batchnorm": _batchnorm_variants,
            "04_initialization": _initialization_variants}


def forbidden_variants(chapter: str) -> dict[str, tuple[dict[str, str], str | None]]:
    """{variant: (code of every part, the part that uses the library, or None for honest code)}."""
    return BUILDERS[chapter](variants(chapter)[BASES[chapter]])


def expected_verdicts(chapter: str, library_part: str | None) -> dict[str, bool]:
    """The correct sample's verdicts, with every test cell of `library_part` failed."""
    base = expected(chapter)[BASES[chapter]]
    assert all(base.values()), "the base sample must get full marks"
    failing = {grade_id_of(library_part), grade_id_of(library_part, hidden=True)}
    return {cell: cell not in failing for cell in base}


def hostile_forbidden_submissions(chapter: str) -> dict[str, tuple[dict, dict[str, bool]]]:
    """{name: (notebook JSON, expected verdicts by test grade_id)} for chapter 02, 03 or 04."""
    return {name: (copy.deepcopy(fill_in(chapter, code)), expected_verdicts(chapter, part))
            for name, (code, part) in forbidden_variants(chapter).items()}


if __name__ == "__main__":
    for chapter in BUILDERS:
        for name, (_, verdicts) in hostile_forbidden_submissions(chapter).items():
            print(chapter, name, json.dumps(verdicts))
