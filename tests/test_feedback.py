"""The course's feedback template, rendered as `nbgrader generate_feedback` renders it (no gradebook needed).

The cells carry the grades GetGradesAwaiting would have put there; the browser test
(test_feedback_browser.py) checks the same pages from a real batch in Chromium.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from autograder import feedback
from autograder.__main__ import pending_message

ROOT = Path(__file__).resolve().parent.parent


def course_config() -> Config:
    """What nbgrader_config.py sets for the feedback (the lines `python -m autograder grade` writes)."""
    config = Config()
    exec(feedback.nbgrader_config(), {"c": config})
    return config


def graded_cell(cell, grade_id: str, points: float, score: float | None, solution: bool):
    """A cell as GetGradesAwaiting leaves it: None as the score means the instructor has not graded it."""
    cell.metadata["nbgrader"] = {"grade": True, "solution": solution, "grade_id": grade_id, "points": points,
                                 "score": score or 0.0, "awaiting_grading": score is None, "comment": None}
    return cell


def render(answer_scores: list[float | None], long_message: str = "short") -> str:
    """The feedback page of one test cell (3 of 4 points, failing with `long_message`) and written answers."""
    test = nbformat.v4.new_code_cell("run_checks('part', globals())")
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue=long_message,
                                           traceback=[f"AssertionError: {long_message}"])]
    cells = [graded_cell(test, "test_part", 4.0, 3.0, solution=False)]
    cells += [graded_cell(nbformat.v4.new_markdown_cell(f"answer {i}"), f"q_{i}", 2.0 if i else 1.0, score, True)
              for i, score in enumerate(answer_scores)]
    nb = nbformat.v4.new_notebook(cells=cells)
    graded = [score for score in answer_scores if score is not None]
    awaiting = sum(2.0 if i else 1.0 for i, score in enumerate(answer_scores) if score is None)
    resources = {"nbgrader": {"notebook": "04_initialization", "score": 3.0 + sum(graded), "late_penalty": 0,
                              "max_score": 4.0 + sum(2.0 if i else 1.0 for i in range(len(answer_scores))),
                              "awaiting_points": awaiting}}
    converter = GenerateFeedback(coursedir=CourseDirectory(), config=course_config())
    exporter = HTMLExporter(parent=converter, config=converter.config)  # as GenerateFeedback.start makes it
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return html


def text(html: str) -> str:
    """The page's words: styles and tags removed, spaces collapsed."""
    body = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_unmarked_answers_read_as_awaiting_grading_not_as_zero():
    words = text(render([None, None]))
    assert "Score: 3 / 7, 3 points of written answers await grading" in words
    assert "Awaiting grading (1 point)" in words and "Awaiting grading (2 points)" in words
    assert "Score: 0 / 1" not in words and "Score: 0 / 2" not in words
    assert words.count("Score: 3 / 4") == 2  # the test cell, in the contents and in its heading


def test_one_point_awaiting_is_singular():
    assert "Score: 4.5 / 7, 1 point of written answers awaits grading" in text(render([None, 1.5]))


def test_graded_answers_show_their_score_and_the_header_says_nothing_awaits():
    words = text(render([1.0, 0.5]))
    assert "Score: 4.5 / 7)" in words and "Score: 1 / 1" in words and "Score: 0.5 / 2" in words
    assert "await" not in words


def test_diagnoses_wrap_at_the_page_width():
    html = render([1.0], long_message="xavier_uniform_bound: " + "word " * 500)
    style = re.sub(r"\s+", " ", html)
    assert "div.output_area pre { white-space: pre-wrap; overflow-wrap: anywhere; }" in style
    assert html.index("overflow-wrap: anywhere") < html.index("<body>")  # styles the whole page


def test_the_formgrader_keeps_its_own_template():
    """nbgrader_config.py is read by the formgrader too: our template is GenerateFeedback's only."""
    config = course_config()
    assert HTMLExporter(config=config).template_name != feedback.TEMPLATE_NAME
    parented = HTMLExporter(parent=GenerateFeedback(coursedir=CourseDirectory(), config=config), config=config)
    assert parented.template_name == feedback.TEMPLATE_NAME
    assert Path(feedback.TEMPLATES, feedback.TEMPLATE_NAME, feedback.TEMPLATE_FILE).is_file()


@pytest.mark.parametrize("pending, words", [
    (1, "1 written answer awaits manual grading: `make formgrader DIR=out` opens it in"),
    (3, "3 written answers await manual grading: `make formgrader DIR=out` opens them in"),
])
def test_the_pending_message_agrees_with_its_count(pending, words):
    message = pending_message(pending, Path("out"))
    assert message.startswith(words)
    assert ("its column stays empty" in message) == (pending == 1)


def _visible_text(page: str) -> str:
    import html as html_module

    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_fast_exporter_renders_what_nbconvert_renders_with_the_same_attributes():
    """FeedbackExporter skips nbconvert's BeautifulSoup pass and remembers rendered cells: same page text,
    the same tabindex and alt attributes, for two notebooks in a row (the second from its memory)."""
    import nbformat
    from nbconvert.exporters import HTMLExporter

    from autograder.feedback import FeedbackExporter

    nb = nbformat.read(ROOT / "notebooks" / "04_initialization" / "04_initialization.ipynb", as_version=4)
    code = next(cell for cell in nb.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="x < y",
                                                  traceback=["AssertionError: 1 < 2 & <b>not bold</b>"]),
                           nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    stock, fast = HTMLExporter(), FeedbackExporter()
    expected, _ = stock.from_notebook_node(nb)
    for _ in range(2):
        page, _ = fast.from_notebook_node(nb)
        assert _visible_text(page) == _visible_text(expected)
        for attribute in ('tabindex="0"', 'alt="No description has been provided for this image"'):
            assert page.count(attribute) == expected.count(attribute) > 0, attribute
    assert fast._markdown and fast._highlighted  # remembered across the two pages
