"""A student's written answers to a chapter's questions: found by grade_id, carried as inert text.

The answers reach the instructor in nbgrader's formgrader and the student in the feedback HTML;
nothing a student typed there may run or fetch anything in a reader's browser.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote

import mistune

from autograder.sanitize import clean_html, link_kept, visible_controls
from autograder.submissions import UnreadableNotebook, cell_source, read_notebook

MAX_ANSWER_CHARS = 20_000

# Letters, digits, spaces and plain punctuation only: nothing that could become a tag, a link, an
# image or math (at most a list or a rule). Such a text, e.g. the untouched "YOUR ANSWER HERE", is
# carried exactly as typed, so nbgrader's checksum still sees an unanswered question (score 0).
_PLAIN_WORDS = re.compile(r"(?:[^\W_]|[ .,;?!'-])*")

# The characters a markdown parser or Python's str.splitlines() would take as a line end: the
# rendered answer must be one line, or nbconvert would end the HTML block and read the rest as markdown.
_LINE_ENDS = {ord(c): f"&#{ord(c)};" for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


# The markdown extensions nbconvert renders notebooks with, and `$...$` math.
_PLUGINS = ["strikethrough", "table", "url", "task_lists", "def_list", "math"]


class _InertRenderer(mistune.HTMLRenderer):
    """Markdown to HTML as a notebook shows it, but raw HTML is escaped (shown as typed), and an
    image, or a link the sanitiser would not keep, is shown as text (the reader sees where it pointed)."""

    def __init__(self):
        super().__init__(escape=True, allow_harmful_protocols=False)

    def link(self, text: str, url: str, title: str | None = None) -> str:
        """A link nh3 keeps (http, https, mailto) as a link; any other as its text and address."""
        if link_kept(url):
            return super().link(text, url, title)
        same = html.unescape(text) == unquote(url)  # an autolink: its text is its address
        return f"{text} [link removed]" if same else f"{text} [link removed: {html.escape(url)}]"

    def image(self, text: str, url: str, title: str | None = None) -> str:
        """An image as its alt text and URL in plain text: the reader's browser fetches nothing."""
        return f"[image not shown: {text or 'no description'}, {html.escape(url)}]"

    def task_list_item(self, text: str, checked: bool = False) -> str:
        """A task-list item with its box as text ("[x] "), since the sanitiser keeps no <input>."""
        box = "[x] " if checked else "[ ] "
        return f"<li><p>{box}{text[3:]}</li>\n" if text.startswith("<p>") else f"<li>{box}{text}</li>\n"

    def inline_math(self, text: str) -> str:
        """`$...$` math as typed (escaped), for the page's MathJax to typeset."""
        return f"${html.escape(text, quote=False)}$"

    def block_math(self, text: str) -> str:
        """`$$...$$` math as typed (escaped), on its own."""
        return f"<div>$${html.escape(text, quote=False)}$$</div>\n"


def _render(markdown: str) -> str:
    """The student's markdown as HTML (mistune 3, the parser nbconvert itself uses).

    Not nbconvert's own renderer: importing nbconvert takes seconds, and this runs in the grader's
    confined notebook reader once per submission.
    """
    return mistune.create_markdown(renderer=_InertRenderer(), plugins=_PLUGINS)(markdown)


def inert_markdown(text: str) -> str:
    """A student's written answer as markdown-cell source that nothing can make run or fetch.

    The answer is rendered to HTML here (raw HTML in it escaped, so a `<script>` shows as typed),
    sanitised by nh3 (`sanitize.clean_html`: links only to http/https/mailto, no images, no styles),
    and wrapped in one `<div>` on a single line: CommonMark's HTML block ends only at a blank line,
    so nbconvert, rendering the feedback and the formgrader, passes it through unchanged.
    Answers over MAX_ANSWER_CHARS are cut, with a note saying where. Plain words stay as typed.
    """
    if len(text) <= MAX_ANSWER_CHARS and _PLAIN_WORDS.fullmatch(text):
        return text
    shown = text[:MAX_ANSWER_CHARS]
    body = clean_html(_render(visible_controls(shown))).strip()
    if len(shown) < len(text):
        body += (f"<p><em>(The answer was cut here: only its first {MAX_ANSWER_CHARS:,} of "
                 f"{len(text):,} characters are shown.)</em></p>")
    return f'<div class="student-answer">{body.translate(_LINE_ENDS)}</div>'


def answer_cells(path: Path, grade_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """The student's written answers in the notebook at `path` (see `written_answers`)."""
    if not grade_ids:
        return {}, []
    try:
        return written_answers(read_notebook(path), grade_ids)
    except UnreadableNotebook:
        return {}, []  # solution_cells already reported the unreadable notebook


def written_answers(cells: list[dict], grade_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """The student's written answers {grade_id: text} to the manually graded questions, and problems.

    An answer is found by its cell's grade_id (a markdown cell nbgrader marks solution and
    grade). Only the text travels, made inert by `inert_markdown`; it is never executed.
    """
    answers: dict[str, str] = {}
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(meta, dict) and meta.get("grade_id") in grade_ids and meta.get("solution"):
            answers[meta["grade_id"]] = inert_markdown(cell_source(cell))
    missing = [g for g in grade_ids if g not in answers]
    problems = [f"no answer cell for {', '.join(missing)} (deleted, or its metadata changed): "
                "graded as unanswered"] if missing else []
    return answers, problems
