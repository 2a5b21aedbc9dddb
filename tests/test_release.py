"""notebooks/ is exactly what nbgrader generates from solutions/, and both are stripped of outputs."""
import json
import re

import pytest

from autograder import release
from dlcourse import course
from notebook_runner import ROOT, all_notebooks


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_notebooks_carry_no_outputs(folder):
    dirty = []
    for path in all_notebooks(folder):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(str(path.relative_to(ROOT)))
                break
    assert not dirty, f"outputs left in: {dirty}"


@pytest.mark.slow
def test_student_notebooks_are_what_the_generator_makes():
    problems = release.differences()
    assert not problems, "\n".join(problems) + "\nrun `python -m autograder release`"


@pytest.mark.slow
def test_check_notices_a_hand_edited_student_notebook(tmp_path, monkeypatch):
    """The check above must be able to fail: edit a copy of notebooks/ and look."""
    import shutil

    copy = tmp_path / "notebooks"
    shutil.copytree(release.NOTEBOOKS, copy)
    target = next(copy.glob("*/*.ipynb"))
    target.write_text(target.read_text(encoding="utf-8").replace("Chapter", "Chapterr", 1), encoding="utf-8")
    monkeypatch.setattr(release, "NOTEBOOKS", copy)
    problems = release.differences([target.parent.name])
    assert any("differs from the generated version" in p for p in problems), problems


@pytest.mark.parametrize("path", all_notebooks("solutions") + all_notebooks("notebooks"),
                         ids=lambda p: f"{p.parents[1].name}/{p.parent.name}")
def test_colab_badge_and_setup_cell_point_at_the_course_repository(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    badge = "".join(cells[0]["source"])
    chapter = path.parent.name
    expected = course.colab_url(f"notebooks/{chapter}/{path.name}")
    assert "colab-badge.svg" in badge and f"({expected})" in badge
    first_code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert f'COURSE_REPOSITORY = "{course.clone_url()}"' in first_code
    assert re.search(r'if "google\.colab" in sys\.modules', first_code)


def test_link_rewriting_follows_the_configured_repository(monkeypatch):
    monkeypatch.setattr(course, "GITHUB_REPOSITORY", "someone/fork")
    text = ("[x](https://colab.research.google.com/github/a/b/blob/main/notebooks/00_setup/00_setup.ipynb)\n"
            'COURSE_REPOSITORY = "https://github.com/a/b.git"')
    out = release.point_links_at_repository(text)
    assert "github/someone/fork/blob/main/notebooks/00_setup/00_setup.ipynb" in out
    assert 'COURSE_REPOSITORY = "https://github.com/someone/fork.git"' in out
