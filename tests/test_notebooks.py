"""Every chapter notebook runs top to bottom in a fresh kernel, in fast mode."""
import datetime
import hashlib
import os

import nbformat
import pytest

from notebook_runner import all_notebooks, cell_errors, execute, figures, is_graded_stub_or_test

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
def test_solution_notebook_runs_without_error(path, monkeypatch):
    monkeypatch.delenv("DLCOURSE_SEED_BASE", raising=False)  # the default seeds 0, 1, 2
    nb, _ = execute(path, fast=True)
    errors = cell_errors(nb)
    assert not errors, "\n".join(f"cell {i}: {message}" for i, _, message in errors)
    assert figures(nb) >= 1, "no figure reached the notebook"


# Chapters whose claims still hold only for some seeds (issue 14, open): each leaves the suite here
# when its claims are restated to what the spread over seeds supports.
CLAIMS_NOT_YET_RESTATED: dict[str, str] = {}  # none left (issue 14): 03's raw-pixels claim was restated on 2026-12-02


def other_seed_base(today: datetime.date | None = None) -> int:
    """A seed base other than the default, different every day, so no lucky base can settle in.

    `DLCOURSE_TEST_SEED_BASE` picks one instead (to reproduce a failure the suite printed).
    Bases are multiples of 10 from 10 to 99,990, so a run never shares a seed with the default 0, 1, 2.
    """
    chosen = os.environ.get("DLCOURSE_TEST_SEED_BASE", "").strip()
    if chosen:
        return int(chosen)
    today = today or datetime.date.today()
    digest = hashlib.sha256(today.isoformat().encode()).digest()
    return 10 * (1 + int.from_bytes(digest[:4], "big") % 9_999)


def test_other_seed_base_changes_with_the_date_and_never_meets_the_default_seeds(monkeypatch):
    monkeypatch.delenv("DLCOURSE_TEST_SEED_BASE", raising=False)  # a base chosen by hand would fix every day's
    days = {other_seed_base(datetime.date(2026, 12, day)) for day in range(1, 31)}
    assert len(days) >= 25 and all(base >= 10 and base % 10 == 0 for base in days)


@pytest.mark.notebook
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: f"solutions/{p.parent.name}")
def test_solution_notebook_claims_hold_on_another_seed_base(path, monkeypatch):
    """The chapter's assertions hold on seeds other than 0, 1, 2 (a base drawn from the date, printed)."""
    if path.parent.name in CLAIMS_NOT_YET_RESTATED:
        pytest.skip(CLAIMS_NOT_YET_RESTATED[path.parent.name])
    base = other_seed_base()
    print(f"{path.parent.name}: DLCOURSE_SEED_BASE={base} (reproduce with DLCOURSE_TEST_SEED_BASE={base})")
    monkeypatch.setenv("DLCOURSE_SEED_BASE", str(base))
    nb, _ = execute(path, fast=True)
    errors = cell_errors(nb)
    assert not errors, f"with DLCOURSE_SEED_BASE={base}:\n" + "\n".join(f"cell {i}: {m}" for i, _, m in errors)
    said = "\n".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    assert f"Seeds start at {base}" in said, "the notebook does not print fastmode.describe(), or the kernel ignored the base"


@pytest.mark.notebook
@pytest.mark.parametrize("path", STUDENT, ids=lambda p: f"notebooks/{p.parent.name}")
def test_student_notebook_runs_to_the_last_cell_with_each_failing_self_check_in_one_line(path):
    """Run All on a just-released notebook: only the self-checks of parts not written yet fail,
    each with its message alone, and the run goes on to the last cell (as JupyterLab's Run All
    does, it stops at an error in any cell not tagged `raises-exception`)."""
    nb, _ = execute(path, fast=True, allow_errors=False)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "Run All did not reach every cell"
    assert figures(nb) >= 1, "no figure reached the notebook"
    failed = {cell.metadata.nbgrader.grade_id: output for cell in code for output in cell.outputs
              if output.output_type == "error"}
    visible_tests = [cell.metadata.nbgrader.grade_id for cell in code
                     if is_graded_stub_or_test(cell) and not cell.metadata.nbgrader.get("solution")
                     and "run_checks(" in cell.source]
    assert sorted(failed) == sorted(visible_tests)  # every part is still a stub, so each self-check fails
    for grade_id, output in failed.items():
        assert output.ename == "SelfCheckFailed", (grade_id, output.ename)
        assert len(output.traceback) == 1 and "not implemented yet" in output.traceback[0], output.traceback
        assert "autograder" not in output.traceback[0] and "File " not in output.traceback[0]  # no grader frames
    results = [output for cell in code for output in cell.outputs if output.output_type == "execute_result"]
    stray = [o["data"]["text/plain"] for o in results if o["data"].get("text/plain") in ("True", "False", "None")]
    assert not stray, f"a cell echoes a stray value: {stray}"
    # A tqdm bar closed before its total turns red ("danger"): an experiment skipping the student's
    # part must not start a bar it cannot finish. nbclient keeps every widget's last state.
    states = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    bars = [m["state"] for m in states.values() if m.get("model_name") == "FloatProgressModel"]
    assert bars, "no progress bar was shown as a widget"
    assert [b for b in bars if b.get("bar_style") == "danger"] == [], "a progress bar stopped half-way (red)"


@pytest.mark.notebook
def test_nbgrader_validate_still_counts_a_tagged_self_check_that_fails(tmp_path):
    """The `raises-exception` tag lets Run All go on; nbgrader's own validate ignores it and still
    reports every failing self-check (and only those), with our one-line message."""
    import subprocess
    import sys
    from pathlib import Path

    from sample_notebooks import fill_in, variants, write

    chapter = "04_initialization"
    written = {"fan_in_and_fan_out": variants(chapter)["correct_math"]["fan_in_and_fan_out"]}
    path = write(fill_in(chapter, written), tmp_path / f"{chapter}.ipynb")
    env = dict(os.environ, DLCOURSE_FAST="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    report = result.stdout + result.stderr
    assert "VALIDATION FAILED ON 5 CELL(S)" in report, report[-3000:]  # two self-checks, three unanswered questions
    assert 'run_checks("xavier_uniform_bound"' in report and 'run_checks("he_uniform_bound"' in report
    assert 'run_checks("fan_in_and_fan_out"' not in report  # the written part passes
    assert "Self-check failed xavier_uniform_bound: `xavier_uniform_bound` is not implemented" in report


EDITIONS = sorted(p for p in (SOLUTIONS[0].parents[1] / "ko").glob("*/*.ipynb")) if SOLUTIONS else []


@pytest.mark.notebook
@pytest.mark.parametrize("path", EDITIONS, ids=lambda p: f"solutions/ko/{p.parent.name}")
def test_korean_notebook_runs_and_its_figures_can_draw_korean(path, monkeypatch):
    """The Korean edition (generated from the English code and translations/ko) runs top to bottom,
    draws figures, and matplotlib found a font for every Hangul letter (no "missing from font" warning)."""
    monkeypatch.delenv("DLCOURSE_SEED_BASE", raising=False)
    nb, _ = execute(path, fast=True)
    errors = cell_errors(nb)
    assert not errors, "\n".join(f"cell {i}: {message}" for i, _, message in errors)
    assert figures(nb) >= 1, "no figure reached the notebook"
    said = "\n".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    assert "dlcourse labels in ko, figure font NanumGothic" in said, "the edition's language cell did not set the font"
    assert "missing from font" not in said, [line for line in said.splitlines() if "missing from font" in line][:3]


def test_every_chapter_has_its_korean_edition():
    chapters = sorted(p.parent.name for p in SOLUTIONS)
    assert sorted(p.parent.name for p in EDITIONS) == chapters, "run `python -m autograder release` after translating"
