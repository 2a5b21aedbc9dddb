"""Hostile submissions against the grader's limits, built on chapter 02's sample submissions.

Each is a notebook plus the verdicts it must get. Tricks that only waste the grader's resources
(a huge output, a fork bomb, a privileged read) must change nothing: the submission is graded as
if they were absent. Tricks that would hold the grader beyond its limits (a cell of half a
million statements, JSON built to explode when parsed, a load that sleeps past the time limit)
score 0 on what they touch, with a reason, and the rest of the batch is graded normally.
Besides these notebooks, `filesystem_entries` makes the entries that are not notebooks at all
(symbolic links, a folder named like a notebook).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from sample_notebooks import ROOT, expected, fill_in, variants

CHAPTER = "02_dropout"
CORRECT = "correct_bool_mask"
# What the sleeping submission does at load time: longer than the batch's --timeout in all.
SLEEP_LINES, SLEEP_SECONDS = 6, 25


def _failing(verdicts: dict[str, bool], part: str | None = None) -> dict[str, bool]:
    """The verdicts with every test of `part` (of every part, if None) failing."""
    return {k: (False if part is None or part in k else v) for k, v in verdicts.items()}


def hostile_limit_submissions() -> dict[str, tuple[dict | str, dict[str, bool]]]:
    """{name: (notebook JSON, or the file's text where it must be written as is; expected verdicts by test grade_id)}."""
    code = variants(CHAPTER)[CORRECT]
    ok = expected(CHAPTER)[CORRECT]
    built = {}

    huge = dict(code)  # 3.6 MB of one-line statements in one solution cell
    huge["dropout_forward"] = code["dropout_forward"] + "_filler = 0\n" * 300_000
    built["limits_huge_cell"] = (fill_in(CHAPTER, huge), _failing(ok, "dropout_forward"))

    outputs = fill_in(CHAPTER, code)  # 30 MB of output in a cell nobody grades: harmless
    outputs["cells"].append({"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "big",
                             "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * (30 << 20)}]})
    built["limits_huge_output"] = (outputs, ok)

    # 39 MB of compact JSON that becomes over 1 GB of Python objects (written as text, as is).
    bomb = json.dumps(fill_in(CHAPTER, code))
    bomb = bomb[:-1] + ', "padding": [' + ",".join(["{}"] * 13_000_000) + "]}"
    built["limits_json_bomb"] = (bomb, _failing(ok))

    answer = fill_in(CHAPTER, code)  # a written answer of 9 MB: cut, the code graded as usual
    for cell in answer["cells"]:
        if cell["cell_type"] == "markdown" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = "My answer. " * 900_000
            break
    built["limits_huge_answer"] = (answer, ok)

    privileged = dict(code)  # reads what it can of the system and puts it, at length, in an error
    privileged["Dropout"] = code["Dropout"].replace(
        "    def forward(self, x):\n",
        "    def forward(self, x):\n"
        "        _seen = []\n"
        "        for _path in ('/etc/shadow', '/etc/gshadow', '/root/.bash_history', '/etc/hostname'):\n"
        "            try:\n"
        "                _seen.append(open(_path).read())\n"
        "            except OSError as _error:\n"
        "                _seen.append(str(_error))\n"
        "        raise ValueError('LEAK ' + ' | '.join(_seen) + ' padding' * 50_000)\n", 1)
    assert privileged["Dropout"] != code["Dropout"], "the correct sample's Dropout changed: update this sample"
    built["limits_privileged_read"] = (fill_in(CHAPTER, privileged), _failing(ok, "Dropout"))

    escalate = dict(code)  # tries to become root again and to read the grader's environment
    escalate["Dropout"] = code["Dropout"].replace(
        "    def forward(self, x):\n",
        "    def forward(self, x):\n"
        "        import os\n"
        "        _seen = []\n"
        "        for _try in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: open('/proc/1/environ').read(),\n"
        "                     lambda: open('/etc/sudoers').read(), lambda: os.listdir('/root')):\n"
        "            try:\n"
        "                _seen.append(repr(_try()))\n"
        "            except OSError as _error:\n"
        "                _seen.append(type(_error).__name__)\n"
        "        raise ValueError('LEAK ' + ' | '.join(_seen) + ' uid=%d' % os.getuid())\n", 1)
    built["limits_escalate"] = (fill_in(CHAPTER, escalate), _failing(ok, "Dropout"))

    fill = dict(code)  # fills its private /tmp at load time: refused at 64 MB, the code graded as usual
    fill["dropout_backward"] = code["dropout_backward"] + (
        "\ntry:\n    with open('/tmp/fill', 'wb') as _fh:\n        for _ in range(200):\n"
        "            _fh.write(bytes(1 << 20))\nexcept OSError:\n    pass\n")
    built["limits_fill_tmp"] = (fill_in(CHAPTER, fill), ok)

    forks = dict(code)  # a dozen busy processes at load time: refused, the code graded as usual
    forks["dropout_backward"] = code["dropout_backward"] + (
        "\nimport os\nfor _ in range(12):\n    try:\n        if os.fork() == 0:\n            while True:\n                pass\n"
        "    except OSError:\n        pass\n")
    built["limits_fork_bomb"] = (fill_in(CHAPTER, forks), ok)

    sleepy = dict(code)  # sleeps SLEEP_LINES x SLEEP_SECONDS at load: past the time limit
    sleepy["dropout_forward"] = "import time\n" + f"time.sleep({SLEEP_SECONDS})\n" * SLEEP_LINES + code["dropout_forward"]
    built["limits_sleeps_past_the_deadline"] = (fill_in(CHAPTER, sleepy), _failing(ok))
    return {name: (copy.deepcopy(nb), dict(verdicts)) for name, (nb, verdicts) in built.items()}


def filesystem_entries(folder: Path) -> dict[str, dict[str, bool]]:
    """Entries that are not notebook files, made in `folder`; {student id: expected verdicts} (all fail)."""
    none = _failing(expected(CHAPTER)[CORRECT])
    solution = ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link_to_solution.ipynb").symlink_to(solution)
    (folder / "link_through_proc.ipynb").symlink_to(f"/proc/self/cwd/solutions/{CHAPTER}/{CHAPTER}.ipynb")
    (folder / "folder_named_like_a_notebook.ipynb").mkdir()
    (folder / "linked_student" / CHAPTER).mkdir(parents=True)  # nbgrader's layout, the notebook a link
    (folder / "linked_student" / CHAPTER / f"{CHAPTER}.ipynb").symlink_to(solution)
    return {name: dict(none) for name in ("link_to_solution", "link_through_proc", "folder_named_like_a_notebook",
                                          "linked_student")}
