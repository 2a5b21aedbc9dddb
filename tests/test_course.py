"""dlcourse.course: the repository address, the Colab links, and the course model (chapters, what is
graded, files, cell roles) that every other list of chapters derives from."""
import json
import re
from pathlib import Path

import pytest

from autograder import checks, families, grading, release
from dlcourse import course

ROOT = Path(__file__).resolve().parent.parent


def test_repository_is_owner_slash_name():
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", course.GITHUB_REPOSITORY)
    assert course.DEFAULT_BRANCH == "main"


def test_clone_url_default():
    assert course.clone_url() == f"https://github.com/{course.GITHUB_REPOSITORY}.git"
    assert course.clone_url() == "https://github.com/dlcourse-org/dl-training-techniques.git"


def test_clone_url_for_a_fork():
    assert course.clone_url("someone/fork") == "https://github.com/someone/fork.git"


def test_colab_url_default():
    assert course.colab_url("notebooks/00_setup/00_setup.ipynb") == (
        "https://colab.research.google.com/github/dlcourse-org/dl-training-techniques"
        "/blob/main/notebooks/00_setup/00_setup.ipynb")


def test_colab_url_for_a_fork_and_branch():
    assert course.colab_url("notebooks/02_dropout/02_dropout.ipynb", repository="me/copy", branch="dev") == (
        "https://colab.research.google.com/github/me/copy/blob/dev/notebooks/02_dropout/02_dropout.ipynb")


def test_colab_url_follows_the_repository_constant(monkeypatch):
    monkeypatch.setattr(course, "GITHUB_REPOSITORY", "org2/repo2")
    monkeypatch.setattr(course, "DEFAULT_BRANCH", "trunk")
    assert course.colab_url("a.ipynb") == "https://colab.research.google.com/github/org2/repo2/blob/trunk/a.ipynb"
    assert course.clone_url() == "https://github.com/org2/repo2.git"


def test_chapter_names_have_the_form_nn_name_and_titles_say_which_are_graded():
    for chapter in course.CHAPTERS:
        assert re.fullmatch(r"\d\d_[a-z][a-z0-9_]*", chapter.name), chapter
        assert chapter.topic.strip() and "graded" not in chapter.topic.lower(), chapter
        assert chapter.title.endswith(" (graded)") == chapter.graded == (chapter in course.GRADED), chapter
        assert chapter.forbids == () or chapter.graded, chapter  # a lock is for grading
    assert course.chapter("02_dropout").title == "Dropout (graded)"
    with pytest.raises(KeyError, match="no chapter '07_x'"):
        course.chapter("07_x")


def test_chapters_are_numbered_00_to_06_in_order():
    numbers = [chapter.name[:2] for chapter in course.CHAPTERS]
    assert numbers == [f"{i:02d}" for i in range(7)]


def test_each_chapter_s_files_are_where_the_model_says():
    for chapter in course.CHAPTERS:
        assert chapter.solution() == ROOT / "solutions" / chapter.name / f"{chapter.name}.ipynb"
        assert chapter.solution().is_file() and chapter.notebook().is_file(), chapter
        assert chapter.notebook("ko") == ROOT / "notebooks" / "ko" / chapter.name / f"{chapter.name}.ipynb"
        assert chapter.reference.is_file() == chapter.graded, chapter
    assert release.chapters() == release.chapters(release.NOTEBOOKS) == [c.name for c in course.CHAPTERS]


def test_every_list_of_graded_chapters_derives_from_the_model_and_agrees():
    graded = [chapter.name for chapter in course.GRADED]
    assert graded and grading.graded_assignments() == graded
    assert checks.CHAPTER_MODULES == tuple(chapter.checks for chapter in course.GRADED)
    modules = checks.chapter_modules()
    assert list(modules) == graded and all(module.CHAPTER == name for name, module in modules.items())
    assert [c.name for c in course.CHAPTERS if course.autograded_cells(c.name)] == graded  # the notebooks' test cells
    assert sorted(path.stem for path in course.REFERENCE_DIR.glob("*.npz")) == graded
    assert sorted(json.loads((course.REFERENCE_DIR / "checksums.json").read_text())) == [f"{name}.npz" for name in graded]
    assert families.CHAPTER_FAMILIES == {c.name: c.forbids for c in course.GRADED if c.forbids}
    assert all(name in families.FAMILIES for chapter in course.GRADED for name in chapter.forbids)
    assert all(course.checked_by(chapter.checks) is chapter for chapter in course.GRADED)
    assert course.checked_by("autograder.checks.dropout").name == "02_dropout"


def test_the_readme_tables_show_the_graded_chapters_and_their_parts():
    for readme, graded_word in (("README.md", "graded"), ("README.ko.md", "채점")):
        rows = {match[0]: match[1] for match in re.findall(r"^\| (\d\d) \| (.+?) \|", (ROOT / readme).read_text(), re.M)}
        assert list(rows) == [chapter.name[:2] for chapter in course.CHAPTERS], readme
        for chapter in course.CHAPTERS:
            row = rows[chapter.name[:2]]
            if readme == "README.md":
                assert row.startswith(chapter.topic), (readme, row)
            parts = checks.chapter_modules()[chapter.name].PARTS if chapter.graded else {}
            shown = ", ".join(f"`{part}`" for part in parts)
            assert (f"({graded_word}: {shown})" in row) == chapter.graded and (f"{graded_word}" in row) == chapter.graded, \
                (readme, row)


def test_every_nbgrader_cell_has_one_of_the_three_roles():
    for chapter in course.CHAPTERS:
        for path in (chapter.solution(), chapter.notebook()):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            assert all(course.cell_role(cell) for cell in cells if cell.get("metadata", {}).get("nbgrader")), path


def test_a_graded_chapter_s_cells_are_named_by_its_parts():
    """Solution cells carry the part's name, each part has a visible and a hidden test cell whose
    grade_id `TestCell.of` reads back as that part, and whose code runs that part's checks."""
    sources = {}
    for chapter in course.GRADED:
        parts = list(checks.chapter_modules()[chapter.name].PARTS)
        solutions = [cell["metadata"]["nbgrader"]["grade_id"] for cell in course.source_cells(chapter.name, course.SOLUTION)]
        assert solutions == parts, chapter
        tests = course.autograded_cells(chapter.name)
        assert [(t.part, t.hidden) for t in tests] == [(part, hidden) for part in parts for hidden in (False, True)]
        assert all(course.grade_id_of(t.part, t.hidden) == t.grade_id and t.points > 0 for t in tests), chapter
        sources.update({cell["metadata"]["nbgrader"]["grade_id"]: cell["source"]
                        for cell in course.source_cells(chapter.name, course.TEST)})
        for test in tests:
            call = f'run_checks("{test.part}", globals(){", hidden=True" if test.hidden else ""})'
            assert call in sources[test.grade_id], (test, sources[test.grade_id])
            assert ("### BEGIN HIDDEN TESTS" in sources[test.grade_id]) == test.hidden, test
        assert all(answer.points > 0 for answer in course.answer_cells(chapter.name)), chapter


def test_a_test_cell_name_is_read_once_and_round_trips():
    assert course.TestCell.of("test_Dropout_hidden", 2) == course.TestCell("test_Dropout_hidden", "Dropout", True, 2.0)
    assert course.TestCell.of("test_dropout_forward", 1).part == "dropout_forward"
    for part in ("Dropout", "he_uniform_bound"):
        for hidden in (False, True):
            cell = course.TestCell.of(course.grade_id_of(part, hidden), 1)
            assert (cell.part, cell.hidden) == (part, hidden)
    with pytest.raises(ValueError, match="test_<part>"):
        course.TestCell.of("Dropout", 1)
