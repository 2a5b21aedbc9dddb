"""A student's written answers to a chapter's questions: found by grade_id, carried as inert text.

The answers reach the instructor in nbgrader's formgrader and the student in the feedback HTML;
nothing a student typed there may run or fetch anything in a reader's browser.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.submissions import MAX_NOTEBOOK_BYTES

MAX_ANSWER_CHARS = 20_000


def plain_text_markdown(text: str) -> str:
    """A student's written answer made inert: HTML tags and entities show as typed, never run.

    The answer is shown to the instructor in nbgrader's formgrader and in the feedback HTML;
    escaping `&`, `<` and `>` keeps a `<script>` or an `<img onerror=...>` as visible text.
    """
    if len(text) > MAX_ANSWER_CHARS:
        text = text[:MAX_ANSWER_CHARS] + f"\n\n(answer cut at {MAX_ANSWER_CHARS} characters)"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def answer_cells(path: Path, grade_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """The student's written answers {grade_id: text} to the manually graded questions, and problems.

    An answer is found by its cell's grade_id (a markdown cell nbgrader marks solution and
    grade). Only the text travels: it is escaped with `plain_text_markdown`, never executed.
    """
    if not grade_ids:
        return {}, []
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return {}, []
        cells = json.loads(path.read_text(encoding="utf-8", errors="replace"))["cells"]
    except (ValueError, KeyError, TypeError, OSError):
        return {}, []  # solution_cells already reported the unreadable notebook
    answers: dict[str, str] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(meta, dict) and meta.get("grade_id") in grade_ids and meta.get("solution"):
            source = cell.get("source", "")
            answers[meta["grade_id"]] = plain_text_markdown("".join(source) if isinstance(source, list) else str(source))
    missing = [g for g in grade_ids if g not in answers]
    problems = [f"no answer cell for {', '.join(missing)} (deleted, or its metadata changed): "
                "graded as unanswered"] if missing else []
    return answers, problems
