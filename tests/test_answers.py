"""Written answers to the manually graded questions: found by grade_id, carried as inert text."""
import json

from autograder import answers as answer_text


def _notebook(tmp_path, cells):
    path = tmp_path / "student.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _answer(grade_id, text, solution=True):
    return {"cell_type": "markdown", "source": text, "metadata": {"nbgrader": {
        "grade": True, "solution": solution, "grade_id": grade_id, "points": 1, "locked": False}}}


def test_answers_are_found_by_grade_id_and_missing_ones_reported(tmp_path):
    path = _notebook(tmp_path, [
        {"cell_type": "markdown", "source": "Question 1: why?", "metadata": {}},
        _answer("q_why", ["Because the gradient ", "vanishes."]),
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": None},
    ])
    answers, problems = answer_text.answer_cells(path, ["q_why", "q_how"])
    assert answers == {"q_why": "Because the gradient vanishes."}
    assert len(problems) == 1 and "q_how" in problems[0] and "unanswered" in problems[0]


def test_html_in_an_answer_is_shown_never_run(tmp_path):
    hostile = '<script>fetch("/api/grades")</script><img src=x onerror="alert(1)"> &amp; 2 < 3'
    path = _notebook(tmp_path, [_answer("q", hostile)])
    text = answer_text.answer_cells(path, ["q"])[0]["q"]
    assert "<" not in text and ">" not in text
    assert "&lt;script&gt;" in text and "&amp;amp;" in text  # an entity typed by the student stays visible as typed


def test_a_huge_answer_is_cut(tmp_path):
    path = _notebook(tmp_path, [_answer("q", "word " * 10_000)])
    text = answer_text.answer_cells(path, ["q"])[0]["q"]
    assert len(text) < answer_text.MAX_ANSWER_CHARS + 100 and "cut at" in text


def test_code_cells_and_non_solution_cells_never_count_as_answers(tmp_path):
    path = _notebook(tmp_path, [
        {"cell_type": "code", "source": "print(1)", "outputs": [], "execution_count": None,
         "metadata": {"nbgrader": {"grade": True, "solution": True, "grade_id": "q", "points": 1}}},
        _answer("q", "a locked description cell", solution=False),
    ])
    answers, problems = answer_text.answer_cells(path, ["q"])
    assert answers == {} and problems


def test_an_unreadable_notebook_gives_no_answers_and_no_crash(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert answer_text.answer_cells(path, ["q"]) == ({}, [])
