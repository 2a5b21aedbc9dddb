"""Command line of the grading package: `python -m autograder release|references|grade|plan|translations|validate`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.quick_start import skip_iri_parsers

skip_iri_parsers()  # before anything imports nbformat; also runs in the grading pool's forkserver, which imports this module

from autograder import release  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="The course's grading tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("chapters", nargs="*", help="chapter folders under solutions/ (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="change nothing; fail if notebooks/ differs from what the generator makes")
    commands.add_parser("references", help="rebuild data/reference/ from the instructor solutions (checked against PyTorch)")
    grade = commands.add_parser("grade", help="grade submissions through nbgrader, sandboxed",
                                description="Grade a batch: writes OUT/grades.csv and OUT/feedback/<student>/. "
                                            "Re-running skips submissions already graded (unless --force).")
    grade.add_argument("assignment", help="a graded chapter folder under solutions/, e.g. 02_dropout")
    grade.add_argument("submissions", nargs="+", type=Path,
                       help=".ipynb files (student id = file name), folders of them or of <student>/<notebook>.ipynb, or LMS .zip exports")
    grade.add_argument("--out", type=Path, default=Path("grading"), help="output folder (default: ./grading)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=float, default=300, help="seconds one submission may take in all (default 300)")
    grade.add_argument("--memory", type=float, default=4, help="GB of address space for a student's code (default 4; torch needs 3)")
    grade.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    grade.add_argument("--db", help="nbgrader gradebook database URL, e.g. postgresql://grader@dbhost:5432/gradebook "
                                    "(default: SQLite in OUT/nbgrader/)")
    grade.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                       help="bwrap (default) confines the student's code; none is for trusted batches only")
    grade.add_argument("--cold", action="store_true",
                       help="start a fresh sandboxed interpreter for every submission instead of forking it from a "
                            "warm template (slower; as root the warm template is the default)")
    grade.add_argument("--cluster", metavar="ADDRESS",
                       help="grade on the workers of a Dask scheduler, e.g. tcp://gradehost:8786 (README, "
                            "\"For instructors\"); nbgrader, the gradebook and grades.csv stay here")
    plan = commands.add_parser("plan", help="predict how long grading a class takes, from the solution's cost here",
                               description=_plan_doc(), formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("assignment", help="a graded chapter folder under solutions/, e.g. 02_dropout")
    plan.add_argument("--students", type=int, required=True, help="submissions to grade (N)")
    plan.add_argument("--jobs", type=int, default=1, help="submissions graded at once per machine (J, default 1)")
    plan.add_argument("--workers", type=int, default=1, help="machines grading (W, default 1; more: cluster workers)")
    plan.add_argument("--cores", type=int, help="cores of each grading machine (default: this machine's)")
    plan.add_argument("--runs", type=int, default=3, help="measuring batches of 1..RUNS copies (default 3, at least 2)")
    plan.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap", help="as for grade (default bwrap)")
    tr = commands.add_parser("translations", help="translated editions: what is missing or stale, record a review, draft a table",
                             description="Translations live in translations/<language>/<chapter>.toml "
                                         "(autograder/translations.py); `release` builds the editions from them.")
    tr.add_argument("action", choices=["status", "review", "draft"],
                    help="status: list every problem; review: record that cells (default: every stale one) "
                         "match today's English; draft: add an entry, English in place, for each cell without one")
    tr.add_argument("language", choices=["ko"])
    tr.add_argument("chapter", nargs="?", help="a chapter folder under solutions/ (status: default all)")
    tr.add_argument("cells", nargs="*", help="review: cell ids (default: every stale one)")
    validate = commands.add_parser("validate", help="students: run every visible check on a saved notebook (no nbgrader needed)")
    validate.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)

    if args.command == "validate":
        from autograder.selfcheck import validate as validate_notebook

        if not args.notebook.is_file():
            parser.error(f"{args.notebook}: no such notebook")
        return validate_notebook(args.notebook)
    if args.command == "grade":
        return _grade(parser, args)
    if args.command == "plan":
        return _plan(parser, args)

    if args.command == "translations":
        return _translations(parser, args)
    if args.command == "references":
        from autograder import references

        references.build()
        return 0

    unknown = sorted(set(args.chapters) - set(release.chapters()))
    if unknown:
        parser.error(f"no such chapter in solutions/: {', '.join(unknown)}; have {', '.join(release.chapters())}")
    if args.check:
        problems = release.differences(args.chapters or None)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("notebooks/ is out of date: run `python -m autograder release`", file=sys.stderr)
            return 1
        print("notebooks/ is exactly what the generator makes from solutions/")
        return 0
    release.release(args.chapters or None)
    return 0


def _grade(parser, args) -> int:
    from autograder import cluster, grading
    from autograder.references import ReferenceFileError
    from autograder.sandbox import SandboxUnavailable
    from autograder.sanitize import inert_message
    from autograder.submissions import SubmissionError

    graded = grading.graded_assignments()
    if args.assignment not in graded:
        parser.error(f"{args.assignment!r} is not a graded chapter; graded chapters: {', '.join(graded) or 'none'}")
    if args.jobs < 1 or args.timeout <= 0 or args.memory < 3:
        parser.error("--jobs must be at least 1, --timeout positive, --memory at least 3 (GB; torch needs about 3)")
    try:
        results, pending = grading.grade(args.assignment, args.submissions, args.out, jobs=args.jobs, timeout=args.timeout,
                                memory=args.memory, force=args.force, db_url=args.db, sandbox=args.sandbox,
                                warm=not args.cold, cluster=args.cluster)
    except (SubmissionError, SandboxUnavailable, ReferenceFileError, grading.GradebookUnavailable,
            grading.GradebookOfOtherSolutions) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (cluster.ClusterUnavailable, cluster.WorkerRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        note = f"  ({'; '.join(inert_message(p) for p in result.problems)})" if result.problems else ""
        print(f"{result.student_id}: {result.passed}/{len(result.verdicts)} test cells passed{note}")
    print(f"wrote {args.out / 'grades.csv'} and {args.out / 'feedback'}/ for {len(results)} submissions")
    print(grading.resource_summary(results, args.timeout))
    print(grading.LAST_RUN["summary"])
    if pending:
        print(pending_message(pending, args.out))
    return 0


def _translations(parser, args) -> int:
    from autograder import translations

    if args.chapter and args.chapter not in release.chapters():
        parser.error(f"no such chapter in solutions/: {args.chapter}; have {', '.join(release.chapters())}")
    try:
        if args.action == "draft":
            if not args.chapter:
                parser.error("draft needs a chapter")
            print(f"wrote {translations.draft(args.language, args.chapter).relative_to(release.ROOT)}")
            return 0
        if args.action == "review":
            if not args.chapter:
                parser.error("review needs a chapter")
            reviewed = translations.review(args.language, args.chapter, args.cells)
            print(f"recorded today's English fingerprint for {len(reviewed)} cells: {', '.join(reviewed) or 'none was stale'}")
            return 0
    except translations.TranslationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = [args.chapter] if args.chapter else [n for n in release.chapters() if args.language in release.editions(n)]
    found = [problem for name in names for problem in translations.problems(args.language, name)]
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"{args.language}: {len(names)} chapters checked, {len(found)} problems")
    return 1 if found else 0


def _plan_doc() -> str:
    """The plan command's help: the model, as autograder/plan.py's docstring explains it."""
    from autograder import plan

    return plan.__doc__


def _plan(parser, args) -> int:
    """Measure the solution's cost here (real grading, sandboxed), then print the prediction and its figures."""
    from autograder import grading, plan

    if args.assignment not in grading.graded_assignments():
        parser.error(f"{args.assignment!r} is not a graded chapter")
    if min(args.students, args.jobs, args.workers, args.cores or 1) < 1 or args.runs < 2:
        parser.error("--students, --jobs, --workers and --cores must be at least 1, --runs at least 2")
    runs, parallel, passed = plan.measure(args.assignment, runs=args.runs, jobs=args.jobs, sandbox=args.sandbox)
    costs = plan.costs_from_runs(runs, args.cores or plan.cores(), parallel)
    prediction = plan.predict(costs, args.students, args.jobs, args.workers)
    if not passed:
        print("warning: the solution did not pass every check here; its cost may not be typical")
    print(plan.report(costs, prediction, args.students, args.jobs, args.workers, sum(len(r["rows"]) for r in runs)))
    return 0


def pending_message(pending: int, out: Path) -> str:
    """What the instructor still has to do by hand, in words that agree with the count."""
    answers = "1 written answer awaits" if pending == 1 else f"{pending} written answers await"
    columns = "its column stays" if pending == 1 else "their columns stay"
    return (f"{answers} manual grading: `make formgrader DIR={out}` opens "
            f"{'it' if pending == 1 else 'them'} in nbgrader's formgrader; run this command again afterwards "
            f"to refresh grades.csv and the feedback ({columns} empty until then)")


if __name__ == "__main__":
    sys.exit(main())
