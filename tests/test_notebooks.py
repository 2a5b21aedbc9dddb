"""Every chapter notebook runs top to bottom in a fresh kernel, in fast mode."""
import os

import nbformat
import pytest

from notebook_runner import all_notebooks, cell_errors, execute, is_graded_stub_or_test

SOLUTIONS = all_notebooks("solutions")
STUDENT = all_notebooks("notebooks")


def test_there_are_notebooks_to_run():
    assert SOLUTIONS, "solutions/ holds no chapter notebook"
    assert [p.relative_to(p.parents[1]) for p in SOLUTIONS] == [p.relative_to(p.parents[1]) for p in STUDENT]


def test_runner_uses_the_notebook_folder_and_leaves_no_kernel_or_file_behind(tmp_path):
    path = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os; print(os.getpid(), os.getcwd(), os.environ['DLCOURSE_FAST'])"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]), path)
    nb, _ = execute(path, fast=False)
    pid, cwd, fast = nb.cells[0].outputs[0]["text"].split()
    assert (cwd, fast) == (str(tmp_path), "0")
    assert [message for _, _, message in cell_errors(nb)] == ["ZeroDivisionError: division by zero"]
    with pytest.raises(ProcessLookupError):  # the kernel was shut down, not left to notice its parent
        os.kill(int(pid), 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.ipynb"]


@pytest.mark.notebook
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: f"solutions/{p.parent.name}")
def test_solution_notebook_runs_without_error(path):
    nb, _ = execute(path, fast=True)
    errors = cell_errors(nb)
    assert not errors, "\n".join(f"cell {i}: {message}" for i, _, message in errors)


@pytest.mark.notebook
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: f"notebooks/{p.parent.name}")
def test_student_notebook_runs_except_unimplemented_graded_cells(path):
    nb, _ = execute(path, fast=True)
    unexpected = [(i, message) for i, cell, message in cell_errors(nb) if not is_graded_stub_or_test(cell)]
    assert not unexpected, "\n".join(f"cell {i}: {message}" for i, message in unexpected)
