"""The hostile submissions of the specification, built on chapter 02's sample submissions.

Each is a notebook plus the verdicts it must get: those of the submission without the trick
(the grader must grade as if the trick were absent), except where the trick is itself the
offence (a forbidden library call, or code that hangs when called).
"""
from __future__ import annotations

import copy
import json

from sample_notebooks import expected, fill_in, variants

CHAPTER = "02_dropout"
CORRECT = "correct_bool_mask"
MISTAKE = "mistake_no_scaling"


def _with(code: dict[str, str], part: str, extra: str, before: bool = False) -> dict[str, str]:
    changed = dict(code)
    changed[part] = (extra + "\n" + code[part]) if before else (code[part] + "\n" + extra + "\n")
    return changed


def _test_cells(nb):
    return [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution")]


PATCH_NUMPY = """np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None"""

PATCH_TORCH = """import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None"""

PATCH_CHECKS = """import autograder.checks as _checks
import autograder.checks.adapter as _adapter
_checks.run_checks = lambda *a, **k: print("all visible checks passed")
_adapter.CheckFailed = type("Harmless", (Exception,), {})"""

LYING_SUBCLASS = """class _Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    def __ne__(self, other):
        return np.zeros(self.shape, bool)
_honest_forward = dropout_forward
def dropout_forward(x, p, train=True, rng=None):
    out, mask = _honest_forward(x, p, train, rng)
    return np.asarray(out).view(_Agreeable), mask"""

IPYTHON_HOOKS = """import sys
_ip = get_ipython()
_ip.set_custom_exc((BaseException,), lambda *a, **k: None)
_ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
_ip.events.register("post_run_cell", lambda result: None)
sys.excepthook = lambda *a: None"""

WRITE_EVERYWHERE = """import glob, os, site, pathlib
_targets = glob.glob('/work/**/solutions/**/*.ipynb', recursive=True) + glob.glob('/tmp/**/gradebook.db', recursive=True)
_targets += glob.glob('/tmp/**/*.ipynb', recursive=True) + glob.glob('/root/**/*.ipynb', recursive=True)
_targets += [os.path.join(p, 'numpy', '__init__.py') for p in site.getsitepackages()]
_targets += [str(pathlib.Path(np.__file__).parents[2] / 'autograder' / 'checks' / '__init__.py')]
for _t in _targets[:200]:
    try:
        with open(_t, 'a') as _fh:
            _fh.write('# tampered')
    except OSError:
        pass"""


def hostile_submissions() -> dict[str, tuple[dict, dict[str, bool]]]:
    """{name: (notebook JSON, expected verdicts by test grade_id)}."""
    code = variants(CHAPTER)
    want = expected(CHAPTER)
    correct, mistake = code[CORRECT], code[MISTAKE]
    ok, bad = want[CORRECT], want[MISTAKE]
    built: dict[str, tuple[dict, dict[str, bool]]] = {}

    built["hostile_patch_numpy"] = (fill_in(CHAPTER, _with(mistake, "dropout_forward", PATCH_NUMPY)), bad)
    built["hostile_patch_torch"] = (fill_in(CHAPTER, _with(mistake, "Dropout", PATCH_TORCH)), bad)
    built["hostile_patch_checks"] = (fill_in(CHAPTER, _with(mistake, "dropout_forward", PATCH_CHECKS, before=True)), bad)
    built["hostile_lying_subclass"] = (fill_in(CHAPTER, _with(mistake, "dropout_forward", LYING_SUBCLASS)), bad)
    built["hostile_ipython_hooks"] = (fill_in(CHAPTER, _with(mistake, "dropout_forward", IPYTHON_HOOKS)), bad)
    built["hostile_exit_kernel"] = (fill_in(CHAPTER, _with(_with(correct, "dropout_backward", "import sys\nsys.exit(0)"),
                                                           "Dropout", "import os\nos._exit(1)")), ok)
    built["hostile_kill_kernel"] = (fill_in(CHAPTER, _with(correct, "dropout_forward",
                                                           "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")), ok)
    built["hostile_endless_loop_at_load"] = (fill_in(CHAPTER, _with(correct, "dropout_backward", "while True:\n    pass")), ok)
    hang = dict(correct)
    hang["dropout_backward"] = correct["dropout_backward"].replace(
        "def dropout_backward(dout, mask, p):", "def dropout_backward(dout, mask, p):\n    while True:\n        pass", 1)
    built["hostile_endless_loop_when_called"] = (
        fill_in(CHAPTER, hang), {k: (v if "dropout_backward" not in k else False) for k, v in ok.items()})
    built["hostile_memory_exhaustion"] = (fill_in(CHAPTER, _with(correct, "dropout_forward",
                                                                 "_hog = [bytearray(1 << 30) for _ in range(64)]")), ok)
    built["hostile_child_process"] = (fill_in(CHAPTER, _with(correct, "Dropout",
                                                             "import subprocess\nsubprocess.Popen(['sleep', '987'], start_new_session=True)")), ok)
    built["hostile_write_everywhere"] = (fill_in(CHAPTER, _with(correct, "dropout_forward", WRITE_EVERYWHERE)), ok)

    edited = fill_in(CHAPTER, mistake)
    for cell in _test_cells(edited):
        cell["source"] = "print('all tests passed')"
        cell["metadata"]["nbgrader"]["points"] = 100
    built["hostile_edit_tests"] = (edited, bad)

    deleted = fill_in(CHAPTER, mistake)
    deleted["cells"] = [c for c in deleted["cells"] if c not in _test_cells(deleted)]
    built["hostile_delete_tests"] = (deleted, bad)

    relabelled = fill_in(CHAPTER, correct)
    for cell in relabelled["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            meta.update({"grade_id": "test_" + meta["grade_id"], "solution": False, "grade": True, "points": 50})
    built["hostile_relabel_cells"] = (relabelled, ok)

    printing = fill_in(CHAPTER, mistake)
    for cell in _test_cells(printing):
        cell["outputs"] = [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                            "data": {"text/plain": str(cell["metadata"]["nbgrader"]["points"])}}]
    printing["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                              "source": "print(10)\n10"})
    built["hostile_print_numbers"] = (printing, bad)

    sneaky = dict(correct)
    sneaky["Dropout"] = correct["Dropout"].replace(
        "        mask = torch.rand_like(x) >= self.p\n        return x * mask / (1.0 - self.p)",
        "        return getattr(torch.nn.functional, 'drop' + 'out')(x, self.p, True)")
    assert sneaky["Dropout"] != correct["Dropout"], "the correct sample's Dropout changed: update this test"
    direct = want["mistake_calls_f_dropout"]  # an indirect route must be caught like the direct call
    built["hostile_forbidden_indirect"] = (fill_in(CHAPTER, sneaky),
                                           {k: (direct[k] if "Dropout" in k else v) for k, v in ok.items()})
    assert not direct["test_Dropout_hidden"]
    return {name: (copy.deepcopy(nb), dict(verdicts)) for name, (nb, verdicts) in built.items()}


if __name__ == "__main__":
    for name, (_, verdicts) in hostile_submissions().items():
        print(name, json.dumps(verdicts))
