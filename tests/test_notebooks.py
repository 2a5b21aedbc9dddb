"""Every chapter notebook runs top to bottom in a fresh kernel, in fast mode."""
import pytest

from notebook_runner import all_notebooks, cell_errors, execute, is_graded_stub_or_test

SOLUTIONS = all_notebooks("solutions")
STUDENT = all_notebooks("notebooks")


def test_there_are_notebooks_to_run():
    assert SOLUTIONS, "solutions/ holds no chapter notebook"
    assert [p.relative_to(p.parents[1]) for p in SOLUTIONS] == [p.relative_to(p.parents[1]) for p in STUDENT]


@pytest.mark.notebook
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: f"solutions/{p.parent.name}")
def test_solution_notebook_runs_without_error(path):
    nb, seconds = execute(path, fast=True)
    errors = cell_errors(nb)
    assert not errors, "\n".join(f"cell {i}: {message}" for i, _, message in errors)
    assert seconds < 120, f"fast mode took {seconds:.0f} s; the target is under 60 s"


@pytest.mark.notebook
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: f"notebooks/{p.parent.name}")
def test_student_notebook_runs_except_unimplemented_graded_cells(path):
    nb, _ = execute(path, fast=True)
    unexpected = [(i, message) for i, cell, message in cell_errors(nb) if not is_graded_stub_or_test(cell)]
    assert not unexpected, "\n".join(f"cell {i}: {message}" for i, message in unexpected)
