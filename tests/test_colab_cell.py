"""The Colab set-up cell, run as Colab would run it, but cloning from a local repository.

The cell runs in a Python started with -S (no site processing), so the editable install of
dlcourse in .venv is invisible, as it is on Colab: `import dlcourse` can only succeed through
the clone the cell makes.
"""
import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from dlcourse import course
from notebook_runner import ROOT, all_notebooks

RUNNER = textwrap.dedent("""
    import sys, types
    sys.path.append({site_packages!r})
    if {on_colab!r}:
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    cell = open({cell_file!r}).read()
    for _ in range(2):  # running the cell twice must be harmless
        exec(compile(cell, "colab-cell", "exec"), {{}})
    import dlcourse
    from dlcourse.data import load_mnist
    print(dlcourse.__file__)
    print(load_mnist("test", limit=5).labels.tolist())
""")


@pytest.fixture(scope="module")
def local_course_repository(tmp_path_factory):
    """A git repository holding the course's package and data, as the GitHub one would."""
    repo = tmp_path_factory.mktemp("origin") / "course"
    repo.mkdir()
    for part in ("dlcourse", "data"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "course"], cwd=repo, check=True)
    return repo


def setup_cell_source(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return next("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def run_cell(cell, tmp_path, on_colab):
    cell_file = tmp_path / "cell.py"
    cell_file.write_text(cell)
    content = tmp_path / "content"  # Colab's working directory is /content
    content.mkdir()
    script = RUNNER.format(site_packages=sysconfig.get_paths()["purelib"], on_colab=on_colab, cell_file=str(cell_file))
    return subprocess.run([sys.executable, "-S", "-c", script], cwd=content, capture_output=True, text=True, timeout=300), content


@pytest.mark.slow
@pytest.mark.parametrize("path", all_notebooks("notebooks"), ids=lambda p: p.parent.name)
def test_on_colab_the_cell_clones_the_course_and_dlcourse_imports_from_it(path, tmp_path, local_course_repository):
    cell = setup_cell_source(path)
    assert course.clone_url() in cell
    cell = cell.replace(course.clone_url(), local_course_repository.as_uri())
    result, content = run_cell(cell, tmp_path, on_colab=True)
    assert result.returncode == 0, result.stderr
    module_file, labels = result.stdout.strip().splitlines()[-2:]
    assert module_file.startswith(str(content / "dl-course")), module_file
    assert labels == "[7, 2, 1, 0, 4]"


def test_elsewhere_the_cell_does_nothing(tmp_path):
    cell = setup_cell_source(all_notebooks("notebooks")[0])
    result, content = run_cell(cell, tmp_path, on_colab=False)
    assert "No module named 'dlcourse'" in result.stderr  # it neither cloned nor touched sys.path
    assert list(content.iterdir()) == []
