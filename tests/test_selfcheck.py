"""The students' self-check fails a forbidden library shortcut before submission, as the grader would.

`check_all` (the notebook's self-check cell) finds each part's source in IPython's input history
(`In`); `python -m autograder validate` reads it from the saved notebook. Both must hold against
a shortcut exactly what the grader's hidden tests hold, and nothing against honest code.
"""
import os
import subprocess
import sys
from pathlib import Path

from autograder import selfcheck
from sample_notebooks import ROOT, fill_in, variants, write

CHAPTER = "04_initialization"
SHORTCUT = ("from torch.nn.init import _calculate_fan_in_and_fan_out as fans\n"
            "def fan_in_and_fan_out(shape):\n    import torch\n    return fans(torch.empty(shape))\n")


def notebook_namespace(cells: list[str]) -> dict:
    """What `globals()` holds in a kernel that ran `cells` in order: their names and the `In` history."""
    namespace = {"__name__": "__main__", "In": [""]}
    for source in cells:
        exec(source, namespace)
        namespace["In"].append(source)
    return namespace


def test_check_all_passes_honest_code(capsys):
    namespace = notebook_namespace(list(variants(CHAPTER)["correct_math"].values()))
    assert selfcheck.check_all(CHAPTER, namespace) is None  # the notebook cell echoes no stray value
    assert "All visible checks pass" in capsys.readouterr().out
    assert set(selfcheck.verdicts(CHAPTER, namespace).values()) == {None}


def test_check_all_fails_the_shortcut_the_cell_that_ran_last_uses(capsys):
    honest = list(variants(CHAPTER)["correct_math"].values())
    namespace = notebook_namespace(honest + [SHORTCUT])  # the student re-defined the part with a shortcut
    selfcheck.check_all(CHAPTER, namespace)
    out = capsys.readouterr().out
    assert "1 of 3 parts fail their visible checks" in out
    assert "FAILED fan_in_and_fan_out: may reach a forbidden library implementation" in out
    assert "_calculate_fan_in_and_fan_out" in out and "implement it yourself" in out
    assert "xavier_uniform_bound: all visible checks passed" in out  # the other parts are not blamed

    namespace = notebook_namespace(honest + [SHORTCUT] + [variants(CHAPTER)["correct_math"]["fan_in_and_fan_out"]])
    assert set(selfcheck.verdicts(CHAPTER, namespace).values()) == {None}  # an honest re-definition, run last, counts


def test_without_an_input_history_there_is_nothing_to_scan():
    namespace = notebook_namespace(list(variants(CHAPTER)["correct_math"].values()) + [SHORTCUT])
    del namespace["In"]  # a plain script: the source is not known, the behavioural checks still run
    assert selfcheck.source_run_last("fan_in_and_fan_out", namespace) is None
    assert set(selfcheck.verdicts(CHAPTER, namespace).values()) == {None}


def test_validate_fails_the_shortcut_in_a_saved_notebook(tmp_path):
    code = dict(variants(CHAPTER)["correct_math"], fan_in_and_fan_out=SHORTCUT)
    path = write(fill_in(CHAPTER, code), tmp_path / f"{CHAPTER}.ipynb")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "autograder", "validate", str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED fan_in_and_fan_out: may reach a forbidden library implementation" in result.stdout
    assert "ok     xavier_uniform_bound" in result.stdout and "2/3 parts pass" in result.stdout
