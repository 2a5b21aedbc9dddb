"""Students' pre-submission check, without nbgrader: `python -m autograder validate NOTEBOOK`.

It reads the saved notebook, runs its solution cells in a separate process and every visible
check against them, says which test cells were changed or deleted (the grader restores them, so
editing them gains nothing), and flags parts still left as `raise NotImplementedError()`.
In a notebook (Colab included), `check_all(chapter, globals())` prints the same verdicts.
Both also scan each part's source for the library shortcuts its exercise forbids, as the grader's
hidden tests do, so a shortcut fails here and not only after submission.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder import forbidden, submissions
from autograder.checks import LocalImplementation, forbidden_names, parts as all_parts, run_part
from dlcourse import course
from dlcourse.course import TEST, cell_role


def _parts_of(chapter: str) -> list[str]:
    return list(dict.fromkeys(test.part for test in course.autograded_cells(chapter)))


def shortcut_findings(part: str, source: str | None) -> list[str]:
    """What the grader's static scan would hold against `source` as the code of `part` (empty if allowed).

    The graded names of the part's chapter are the scan's own names, as in grading: a cell may
    define them (and use its siblings, `class BatchNorm2d(BatchNorm1d)`), never rebind them.
    """
    from autograder.checks import chapter_modules

    scanned = forbidden_names()
    if source is None or part not in scanned:
        return []
    graded = next(set(module.PARTS) for module in chapter_modules().values() if part in module.PARTS)
    return forbidden.findings(source, graded, scanned[part])


def source_run_last(name: str, namespace: dict) -> str | None:
    """The last cell run in this kernel that defines `name`: IPython keeps every input in `In`."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return None
    return next((source for source in reversed(history)
                 if isinstance(source, str) and name in submissions.defined_names(source)), None)


def verdicts(chapter: str, namespace: dict) -> dict[str, str | None]:
    """{part: None if its visible checks pass, else what is wrong}, for every part of `chapter`.

    Each passing part prints its verdict, as its own self-check cell does."""
    checks, found = all_parts(), {}
    for part in _parts_of(chapter):
        verdict = run_part(checks[part], LocalImplementation(dict(namespace)), False,
                           findings=shortcut_findings(part, source_run_last(part, namespace)))
        if verdict.passed:
            print(verdict.message)
        found[part] = None if verdict.passed else verdict.detail
    return found


def check_all(chapter: str, namespace: dict) -> None:
    """Run every visible check of `chapter` against `namespace`; print one line per failing part.

    It returns nothing, so the notebook cell that calls it shows the verdicts and no stray value.
    """
    found = verdicts(chapter, namespace)
    failing = {part: why for part, why in found.items() if why}
    for part, why in failing.items():
        print(f"FAILED {part}: {why}")
    print(f"{len(failing)} of {len(found)} parts fail their visible checks: see the messages above." if failing
          else "All visible checks pass. The hidden tests run after you submit.")


def validate(path: Path) -> int:
    """Report on a saved notebook; 0 when every visible check passes and no test cell was changed."""
    from autograder import families
    from autograder.remote import RemoteImplementation

    graded = [c.name for c in course.GRADED]
    chapter = next((c for c in graded if path.stem.startswith(c)), None)
    nb = json.loads(path.read_text(encoding="utf-8"))
    if chapter is None:
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])}
        chapter = next((c for c in graded if set(_parts_of(c)) & ids), None)
    if chapter is None:
        print(f"{path}: not a graded chapter's notebook")
        return 2
    problems = []
    released = json.loads(course.chapter(chapter).notebook().read_text())
    theirs = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): "".join(c.get("source", ""))
              for c in nb.get("cells", [])}
    for cell in released["cells"]:
        if cell_role(cell) == TEST:
            grade_id = cell["metadata"]["nbgrader"]["grade_id"]
            if grade_id not in theirs:
                problems.append(f"test cell {grade_id} was deleted (the grader uses the original)")
            elif theirs[grade_id] != "".join(cell["source"]):
                problems.append(f"test cell {grade_id} was changed (the grader uses the original)")
    part_names = _parts_of(chapter)
    cells, reading = submissions.solution_cells(path, part_names)
    problems += reading
    checks = all_parts()
    passed = 0
    # The same lock as in grading (the forbidden kernels raise), without the sandbox: it is the student's own machine.
    locked = tuple(f.name for f in families.for_chapter(chapter))
    with RemoteImplementation(cells, mode="none", request_timeout=60, forbidden=locked) as impl:
        for part in part_names:
            source = dict(cells).get(part, "")
            if "raise NotImplementedError" in source:
                print(f"TODO   {part}: still `raise NotImplementedError()`")
                continue
            verdict = run_part(checks[part], impl, False, findings=shortcut_findings(part, source))
            if verdict.passed:
                print(f"ok     {part}")
                passed += 1
            else:
                print(f"FAILED {part}: {verdict.detail}")
    for problem in problems + impl.load_problems:
        print(f"note   {problem}")
    print(f"{passed}/{len(part_names)} parts pass their visible checks.")
    return 0 if passed == len(part_names) and not problems else 1
