"""Reading a submission under limits: the one step where the trusted side parses what a student wrote.

A notebook of 50 MB, a cell of half a million statements or JSON built to blow up when parsed
would cost the grader's own process gigabytes and minutes. So the grader never parses it itself:
`inspect` runs this module in a child process with an address-space, CPU-time and wall-clock
limit; the child reads the notebook (a regular file only, never through a link), takes the code
of each graded part's cell (capped at MAX_CELL_CHARS), scans it for forbidden shortcuts, makes
the written answers inert, and prints one small JSON answer. A child that runs out of memory or
time is a reason the submission scores 0, never a stall or a crash of the batch.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder import limited

MEMORY_BYTES = 512 * 1024**2  # a 50 MB notebook of outputs needs about 230 MB to parse
MAX_ANSWER_BYTES = 8 * 1024**2  # what the child may print back (cells and answers are capped well below)


@dataclass
class Inspection:
    cells: list[tuple[str, str]] = field(default_factory=list)   # (part, source) of each graded part found
    answers: dict[str, str] = field(default_factory=dict)        # grade_id -> inert markdown
    findings: dict[str, list[str]] = field(default_factory=dict)  # part -> forbidden-shortcut findings
    problems: list[str] = field(default_factory=list)
    unreadable: str | None = None                                 # why nothing could be read at all
    peak_mb: int = 0                                              # the reader's peak resident memory
    cpu_seconds: float = 0.0                                      # the reader's CPU time


def inspect(path: Path, parts: list[str], answer_ids: list[str], scan: dict[str, list[str]],
            allowed: list[str], timeout: float = 60.0) -> Inspection:
    """What the grader needs from the notebook at `path`, read in a confined child process.

    scan: {part: library names its cell must not use}; allowed: the graded names the exercise
    asks the student to define (exempt from the scan).
    """
    request = json.dumps({"path": str(path), "parts": parts, "answers": answer_ids, "scan": scan, "allowed": allowed})
    child = limited.run([sys.executable, "-I", "-m", "autograder.inspection"], MEMORY_BYTES, max(1.0, timeout),
                        input=request.encode(), cwd=Path(__file__).resolve().parent.parent, output_limit=MAX_ANSWER_BYTES)
    if child.returncode is None:
        return Inspection(unreadable=f"the notebook could not be read within {timeout:.0f} s",
                          peak_mb=child.peak_mb, cpu_seconds=child.cpu_seconds)
    if child.returncode != 0 or len(child.stdout) >= MAX_ANSWER_BYTES:
        why = f"{MEMORY_BYTES >> 20} MB of memory" if b"MemoryError" in child.stderr[-2000:] else f"exit status {child.returncode}"
        return Inspection(unreadable=f"the notebook could not be read within the grader's limits ({why})",
                          peak_mb=child.peak_mb, cpu_seconds=child.cpu_seconds)
    found = json.loads(child.stdout)
    return Inspection(cells=[tuple(pair) for pair in found["cells"]], answers=found["answers"],
                      findings=found["findings"], problems=found["problems"], unreadable=found["unreadable"],
                      peak_mb=child.peak_mb, cpu_seconds=child.cpu_seconds)


def _inspect_here(request: dict) -> dict:
    """The child's work: everything taken from the notebook, as plain JSON."""
    from autograder import answers, forbidden, submissions

    try:
        notebook = submissions.read_notebook(Path(request["path"]))
    except submissions.UnreadableNotebook as exc:
        return {"cells": [], "answers": {}, "findings": {}, "problems": [], "unreadable": str(exc)}
    cells, problems = submissions.graded_code(notebook, request["parts"])
    written, answer_problems = answers.written_answers(notebook, request["answers"]) if request["answers"] else ({}, [])
    allowed = set(request["allowed"])
    findings = {part: forbidden.findings(source, allowed, set(request["scan"][part]))
                for part, source in cells if part in request["scan"]}
    return {"cells": cells, "answers": written, "findings": {k: v for k, v in findings.items() if v},
            "problems": problems + answer_problems, "unreadable": None}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_inspect_here(json.loads(sys.stdin.read()))))
