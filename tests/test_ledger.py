"""The cost ledger and the planner: the model on its own, then real `grade` and `plan` runs, sandboxed."""
import re
import shutil

import pytest

from autograder import ledger, plan, sandbox
from autograder.__main__ import main
from autograder.release import SOLUTIONS

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)")
SOLUTION = SOLUTIONS / "02_dropout" / "02_dropout.ipynb"


# -- the model, a pure function ---------------------------------------------------------------

COSTS = plan.Costs(wall=4.0, cpu=3.0, startup=5.0, bookkeeping_fixed=10.0, bookkeeping_per=1.0, cores=2)


def test_one_job_grades_one_after_another_then_the_bookkeeping():
    p = plan.predict(COSTS, students=10)
    assert (p.rounds, p.slot, p.grading, p.bookkeeping, p.total) == (10, 4.0, 40.0, 20.0, 65.0)


def test_jobs_beyond_the_cores_are_bound_by_cpu_and_rounds_round_up():
    p = plan.predict(COSTS, students=10, jobs=4)  # 4 x 3 CPU s on 2 cores: 6 s a slot, not 4
    assert (p.rounds, p.slot, p.total) == (3, 6.0, 5.0 + 18.0 + 20.0)


def test_machines_share_the_grading_but_never_the_bookkeeping():
    one, four = plan.predict(COSTS, 40, jobs=2, workers=1), plan.predict(COSTS, 40, jobs=2, workers=4)
    assert (one.rounds, four.rounds) == (20, 5)
    assert one.bookkeeping == four.bookkeeping == 50.0
    assert plan.predict(COSTS, 10_000, jobs=2, workers=1000).total > 10_000 * COSTS.bookkeeping_per


def test_a_measured_side_by_side_wall_counts_only_for_its_own_jobs():
    costs = plan.Costs(**{**COSTS.__dict__, "parallel_jobs": 2, "parallel_wall": 5.5})
    assert plan.predict(costs, 4, jobs=2).slot == 5.5
    assert plan.predict(costs, 4, jobs=1).slot == 4.0


def test_bookkeeping_fit_recovers_a_line_and_never_goes_negative():
    fixed, per = plan.fit_bookkeeping([(1, 3.5), (2, 4.4), (3, 5.3)])
    assert fixed == pytest.approx(2.6) and per == pytest.approx(0.9)
    assert plan.fit_bookkeeping([(1, 5.0), (2, 4.0)]) == (pytest.approx(4.5), 0.0)


def test_costs_from_ledger_entries():
    def run(walls, bookkeeping, wall):
        rows = [{"wall_seconds": w, "cpu_seconds": w - 1, "worker_peak_mb": 500} for w in walls]
        return {"rows": rows, "run_submissions": len(rows), "run_bookkeeping_seconds": bookkeeping, "run_wall_seconds": wall}

    costs = plan.costs_from_runs([run([4.0], 3.0, 9.0), run([4.0, 5.0], 4.0, 15.0)], cores=2)
    assert (costs.wall, costs.cpu, costs.worker_peak_mb) == (4.0, 3.0, 500)
    assert costs.startup == pytest.approx(2.0) and (costs.bookkeeping_fixed, costs.bookkeeping_per) == (2.0, 1.0)


def test_summary_names_the_slowest_and_the_median():
    rows = [{"student_id": s, "wall_seconds": w, "cpu_seconds": 1.0, "worker_peak_mb": 400}
            for s, w in [("a", 2.0), ("b", 9.0), ("c", 3.0)]]
    line = ledger.summary(rows, bookkeeping_seconds=4.0, wall_seconds=20.0)
    assert "slowest b 9.0 s, median 3.0 s" in line and "14.0 s wall, 3.0 s CPU" in line
    assert "bookkeeping (nbgrader autograde + feedback) 4.0 s" in line and "6.67 s per submission" in line


# -- real runs --------------------------------------------------------------------------------

@pytest.mark.slow
@needs_bwrap
def test_grade_writes_the_ledger_and_the_summary_and_a_resumed_run_keeps_old_rows(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for student in ("ann", "bob"):
        shutil.copy(SOLUTION, subs / f"{student}.ipynb")
    out = tmp_path / "out"
    assert main(["grade", "02_dropout", str(subs), "--out", str(out), "--jobs", "2"]) == 0
    line = [text for text in capsys.readouterr().out.splitlines() if text.startswith("cost: ")][-1]
    rows = ledger.read(out)
    assert [r["student_id"] for r in sorted(rows, key=lambda r: r["student_id"])] == ["ann", "bob"]
    for row in rows:
        # The worker ran the checks' calls (a warm one forked with torch already imported: no import to count).
        assert row["cpu_seconds"] > 0 and row["worker_cpu_seconds"] > 0
        assert row["worker_peak_mb"] > 100  # torch's pages, in memory in the worker
        assert row["cpu_seconds"] == pytest.approx(row["checker_cpu_seconds"] + row["reader_cpu_seconds"]
                                                   + row["worker_cpu_seconds"], abs=0.02)
        assert 0 < row["wall_seconds"] < row["run_wall_seconds"] and row["run_bookkeeping_seconds"] > 0
    slowest, median = map(float, re.search(r"slowest \w+ ([\d.]+) s, median ([\d.]+) s", line).groups())
    assert line.startswith("cost: 2 graded;") and median <= slowest
    assert "bookkeeping (nbgrader autograde + feedback)" in line
    import json
    result = json.loads((out / "results" / "ann.json").read_text())
    assert result["worker_peak_mb"] > 100 and result["cpu_seconds"] > 0

    (subs / "bob.ipynb").unlink()
    assert main(["grade", "02_dropout", str(subs), "--out", str(out), "--force"]) == 0
    again = ledger.read(out)
    assert len(again) == 3 and len({r["run_id"] for r in again}) == 2 and again[:2] == rows


@pytest.mark.slow
@needs_bwrap
def test_plan_prints_a_prediction_its_own_figures_reproduce(capsys):
    assert main(["plan", "02_dropout", "--students", "5", "--jobs", "2", "--runs", "2"]) == 0
    text = capsys.readouterr().out
    number = r"([\d.]+)"
    wall, cpu, peak = map(float, re.search(rf"wall {number} s, CPU {number} s, worker peak {number} MB", text).groups())
    parallel = float(re.search(rf"--jobs 2\): wall {number} s", text).group(1))
    startup = float(re.search(rf"start-up per run: {number} s", text).group(1))
    fixed, per = map(float, re.search(rf"serial\): {number} s \+ {number} s per submission", text).groups())
    total = float(re.search(rf"= {number} s \(", text).group(1))
    assert wall > 0.5 and 0 < cpu and peak > 100 and parallel > 0 and per >= 0 and fixed >= 0
    costs = plan.Costs(wall, cpu, startup, fixed, per, cores=plan.cores(), parallel_jobs=2, parallel_wall=parallel)
    assert re.search(r"prediction for 5 students, --jobs 2, 1 machine", text)
    assert plan.predict(costs, 5, jobs=2).total == pytest.approx(total, abs=0.2)  # the printed figures are rounded
