"""`python -m autograder grade`: grade a batch of submissions through nbgrader, robustly.

`grade()` runs the steps of a batch in order, each a function below:
  1. open the batch: refuse at once what would fail every submission (no sandbox, stale
     references, an unusable --db, a gradebook of other solutions); nbgrader's course folder is
     prepared in a thread meanwhile;
  2. collect the submissions (`submissions.collect`) into one `GradingTask` each, skipping those
     results/ already holds (the resume point);
  3. grade each task in a pool of `jobs` processes (or on a Dask cluster): `grade_one` reads only
     the student's solution cells (everything else comes from the course's source), starts the
     student's code in a sandboxed worker and runs every graded part's visible and hidden checks
     here, in a clean process, with the worker answering over a pipe; the forbidden-call findings
     (static and dynamic) count; fresh inputs are seeded from the submission's hash and a
     per-gradebook salt, so re-grading gives identical scores. Each `GradingResult` is saved in
     results/<student>.json as it arrives;
  4. write each verdict as the output of its test cell in a canonical notebook;
  5. `nbgrader autograde` (execution switched off: the code already ran, sandboxed) records the
     scores in the gradebook;
  6. `nbgrader generate_feedback` writes the HTML (with hidden test code removed);
  7. grades.csv is read back from the gradebook, and the run's costs go to the ledger.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import limited, submissions
from autograder.records import MAX_PROBLEM, GradingResult, GradingTask, Outcome, cut
from autograder.release import nbgrader_environment
from dlcourse import course as _course
from dlcourse.course import ANSWER, GRADED, SOLUTION, TEST, AnswerCell, TestCell, cell_role, chapter

# -- the chapter's graded cells (dlcourse.course) ------------------------------------------------

def autograded_cells(assignment: str) -> list[TestCell]:
    """The autograded test cells of a chapter's source notebook, in order."""
    cells = _course.autograded_cells(assignment)
    if not cells:
        raise ValueError(f"{assignment} has no autograded test cells: is it a graded chapter?")
    return cells


def answer_cells(assignment: str) -> list[AnswerCell]:
    """The manually graded answer cells (written answers to the chapter's questions), in order."""
    return _course.answer_cells(assignment)


def graded_assignments() -> list[str]:
    """The graded chapters, as the course model lists them."""
    return [graded.name for graded in GRADED]


# -- one submission (runs in a pool process, or on a cluster worker) ------------------------------

def _why_unusable(part: str, sources: dict, impl) -> str | None:
    """Why a part cannot be checked at all: no solution cell, or a cell that raised or did not define it."""
    if part not in sources:
        return f"no code found for `{part}`: keep the solution cell that defines it"
    if impl.has(part):
        return None
    error = impl.cell_errors.get(part)
    return f"the cell defining `{part}` raised {error}" if error else f"`{part}` is not defined by its solution cell"


def grade_one(task: GradingTask) -> GradingResult:
    """The verdict of every test cell for one submission.

    Everything the student wrote is read by `inspection.inspect` (a confined child process) and
    run by a sandboxed worker; this process only runs the checks, within one deadline of
    task.timeout seconds for the whole submission.
    """
    import resource

    import torch

    from autograder import inspection
    from autograder.checks import forbidden_names, parts as all_parts, run_part
    from autograder.remote import RemoteImplementation
    from autograder.sandbox import Limits

    torch.set_num_threads(1)
    started, cpu_started = time.monotonic(), _own_cpu_seconds()
    deadline = started + task.timeout
    part_names = list(dict.fromkeys(test.part for test in task.tests))
    result = GradingResult(task.student_id, task.sha256, task.origin,
                           problems=[cut(p, MAX_PROBLEM) for p in task.problems])

    def finish() -> GradingResult:
        result.seconds = round(time.monotonic() - started, 2)
        result.grader_peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        result.checker_cpu_seconds = round(_own_cpu_seconds() - cpu_started, 2)
        result.cpu_seconds = round(result.checker_cpu_seconds + result.reader_cpu_seconds + result.worker_cpu_seconds, 2)
        return result

    def not_graded(reason: str) -> GradingResult:
        result.verdicts = task.all_failed(f"not graded: {reason}")
        result.problems.append(cut(f"not graded: {reason}", MAX_PROBLEM))
        return finish()

    if task.unusable:
        return not_graded(task.unusable)
    scanned = {part: sorted(names) for part, names in forbidden_names().items() if part in part_names}
    inspected = inspection.inspect(Path(task.path), part_names, list(task.answers), scanned,
                                   allowed=part_names, timeout=min(60.0, task.timeout))
    result.reader_peak_mb = inspected.peak_mb
    result.reader_cpu_seconds = round(inspected.cpu_seconds, 2)
    if inspected.unreadable:
        return not_graded(inspected.unreadable)
    sources = dict(inspected.cells)
    result.cells, result.answers = inspected.cells, inspected.answers
    result.problems += [cut(p, MAX_PROBLEM) for p in inspected.problems]
    checks = all_parts()
    impl = RemoteImplementation(inspected.cells, mode=task.sandbox, limits=Limits(memory_gb=task.memory),
                                request_timeout=min(60.0, max(10.0, task.timeout / len(task.tests))),
                                deadline=deadline, forbidden=task.forbidden, mounts=list(task.mounts), warm=task.warm)
    try:
        for test in task.tests:
            part = test.part
            verdict = run_part(checks[part], impl, test.hidden, seed=task.seed(test),
                               findings=inspected.findings.get(part, ()),
                               unusable=lambda part=part: _why_unusable(part, sources, impl))
            result.verdicts[test.grade_id] = Outcome(verdict.passed, cut(verdict.message))
    finally:
        impl.close()
        result.worker_cpu_seconds, result.worker_peak_mb = round(impl.worker.cpu_seconds, 2), impl.worker.peak_mb
    result.problems += [cut(p, MAX_PROBLEM) for p in impl.load_problems]
    result.problems = result.problems[:20]
    return finish()


def _own_cpu_seconds() -> float:
    """CPU time this process has used so far (user + system), to charge a submission its checks."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grade_one_safely(task: GradingTask) -> GradingResult:
    """grade_one, but a failure of the grader itself on one submission never stops the batch."""
    try:
        return grade_one(task)
    except Exception as error:
        return task.not_graded(cut(f"the grader could not grade this submission ({type(error).__name__}: {error})",
                                   MAX_PROBLEM))


# -- nbgrader ------------------------------------------------------------------------------------

NBGRADER_MEMORY_BYTES = 4 * 1024**3  # address space of one nbgrader command (its RSS stays far below)
NBGRADER_PEAK_MB: dict[str, int] = {}  # the peak resident memory of each nbgrader command this run
LAST_RUN: dict = {}  # the last grade() run's ledger entry (autograder.ledger.record): its summary and figures


def _run_nbgrader(course: Path, *args: str, notebooks: int = 1) -> limited.Finished:
    """Run one nbgrader command under a memory limit and a time limit that grows with the batch.

    What it renders is already capped (cells, answers and messages are cut by the grader), so
    these limits are a backstop, never what a normal batch meets.
    """
    timeout = 300 + 10 * notebooks
    result = limited.run([sys.executable, "-m", "autograder.nbgrader_cli", *args, "--log-level=WARN"], NBGRADER_MEMORY_BYTES,
                         timeout, cwd=course, env=nbgrader_environment())
    NBGRADER_PEAK_MB[args[0]] = max(NBGRADER_PEAK_MB.get(args[0], 0), result.peak_mb)
    if result.returncode is None:
        raise RuntimeError(f"nbgrader {' '.join(args)} took more than {timeout} s")
    if result.returncode != 0:
        out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{out[-3000:]}\n{err[-3000:]}")
    return result



# -- the gradebook database (--db) ------------------------------------------------------------

class GradebookUnavailable(RuntimeError):
    """The --db database cannot be used; the message names what is missing and how to fix it."""


class GradebookOfOtherSolutions(RuntimeError):
    """The --out folder's gradebook was made from another version of the assignment's solutions."""


def default_db_url(course: Path) -> str:
    """The gradebook when --db is not given: SQLite beside nbgrader's course folder."""
    return f"sqlite:///{course / 'gradebook.db'}"


def check_database(db_url: str) -> None:
    """Connect once, before any grading, so a wrong --db stops the batch with one clear error.

    Without this, a missing driver, server, role or database surfaces only after the whole batch
    has been graded, as a page of nbgrader's log.
    """
    from sqlalchemy import create_engine, exc, make_url

    try:
        url = make_url(db_url)
    except exc.ArgumentError:
        raise GradebookUnavailable(f"--db {db_url!r} is not a database URL; e.g. "
                                   "postgresql://grader@dbhost:5432/gradebook or sqlite:////path/gradebook.db") from None
    shown = url.render_as_string(hide_password=True)
    try:
        engine = create_engine(url, **_connect_timeout(url))
    except exc.NoSuchModuleError:
        raise GradebookUnavailable(f"--db {shown}: SQLAlchemy has no database called {url.drivername!r}; "
                                   "use postgresql://USER@HOST:PORT/DATABASE or sqlite:///PATH") from None
    except ModuleNotFoundError as missing:
        raise GradebookUnavailable(f"--db {shown}: the Python driver {missing.name!r} for this database is not "
                                   "installed; `pip install -r requirements.txt` installs psycopg, the one "
                                   "postgresql:// URLs use") from None
    try:
        with engine.connect():
            pass
    except exc.DBAPIError as error:
        said = " ".join(str(error.orig).split())
        fix = _postgres_fix(url, said) if url.get_backend_name() == "postgresql" else "does its folder exist, and may you write there?"
        raise GradebookUnavailable(f"--db {shown}: cannot open the gradebook ({said}); {fix}") from None
    finally:
        engine.dispose()


def _postgres_fix(url, said: str) -> str:
    """What to do about a PostgreSQL server's refusal, from what it said."""
    user, database = url.username or "grader", url.database or "gradebook"
    if "role" in said and "does not exist" in said:
        return f"create the role on the server, as its superuser: `createuser {user}` (README, \"For instructors\")"
    if "database" in said and "does not exist" in said:
        return (f"create the database on the server, as its superuser: `createdb --owner={user} {database}` "
                "(README, \"For instructors\")")
    if "pg_hba.conf" in said:
        return "let this machine connect: a line for it in the server's pg_hba.conf, then reload the server"
    if "password" in said:
        return "give the role's password in ~/.pgpass or PGPASSWORD (or in the URL: postgresql://USER:PASSWORD@HOST/DB)"
    return "start the server, or correct the host and port in the URL"


def _connect_timeout(url) -> dict:
    """A server that never answers must not hang the command: PostgreSQL gets 10 s to accept."""
    return {"connect_args": {"connect_timeout": 10}} if url.get_backend_name() == "postgresql" else {}


GRADEBOOK_LOCK = int(hashlib.sha256(b"dlcourse autograder gradebook").hexdigest()[:15], 16)  # an advisory lock's id
WAITING = "another `grade` run is writing to this gradebook: waiting for it to finish"


@contextlib.contextmanager
def gradebook_lock(db_url: str):
    """Hold a PostgreSQL gradebook for one run's nbgrader commands, so two `grade` runs on it take turns.

    nbgrader adds tables, courses, students and assignments by looking first and inserting after:
    two runs doing that at once both insert, and one fails on the duplicate. Only this short
    bookkeeping phase waits; the grading itself runs in parallel. The lock is an advisory lock of
    the database, held by one connection of this process (the server drops it if we die).
    SQLite gradebooks live in their own --out folder, which one run at a time uses anyway.
    """
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(url, poolclass=NullPool, **_connect_timeout(url))
    lock = {"key": GRADEBOOK_LOCK}
    try:
        with engine.connect() as connection:
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), lock).scalar():
                print(WAITING, file=sys.stderr, flush=True)
                connection.execute(text("SELECT pg_advisory_lock(:key)"), lock)
            connection.commit()  # the lock outlives the transaction: do not sit idle inside one
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), lock)
    finally:
        engine.dispose()


def _ensure_course_row(db_url: str) -> None:
    """Give nbgrader's default course id "" the row its assignments refer to.

    nbgrader files every assignment under CourseDirectory.course_id (default "") but creates a
    course row only for a non-empty id. SQLite does not enforce the foreign key, so that goes
    unnoticed; PostgreSQL does, and `generate_assignment` fails. The id stays "" because an
    instructor's exchange (`nbgrader release_feedback`) reads this course folder's config and must
    keep its own course id.
    """
    from nbgrader.api import Course, Gradebook

    with Gradebook(db_url, course_id="") as gradebook:
        if gradebook.db.get(Course, "") is None:
            gradebook.db.add(Course(id=""))
            gradebook.db.commit()


NBGRADER_CONFIG = '''# Written by `python -m autograder grade`; regenerated on every run.
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Execute.enabled = False          # the code already ran in the sandbox
c.ClearOutput.enabled = False      # the outputs are the sandboxed checks' verdicts
# nbgrader's sanitizing pass guards against a student's notebook: restoring test cells, checking
# cell metadata, resetting the kernel. autograde never sees one: it reads the canonical notebook,
# which the grader built from the released notebook (only solution sources, answers and verdicts
# come from the submission). The pass would redo that work at about 0.1 s a notebook.
c.Autograde.sanitize_preprocessors = []
'''  # then the feedback pages' preprocessors and template: autograder.feedback.nbgrader_config()


def _source_is_current(course: Path, assignment: str) -> bool:
    """Whether this gradebook's course folder was made from today's solutions/<assignment> (False: not made yet).

    Raises when it was made from another version: those grades must not be mixed with new ones.
    """
    source = chapter(assignment).solution()
    marker = course / f".source-{assignment}.sha256"
    if not marker.is_file():
        return False
    if marker.read_text() != hashlib.sha256(source.read_bytes()).hexdigest():
        raise GradebookOfOtherSolutions(f"solutions/{assignment} changed since this gradebook was made: grade into "
                                        f"a new --out folder (the old grades stay in {course.parent})")
    return True


def _write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner only (0600), also when it existed with wider permissions."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as fh:
        fh.write(text)


def _prepare_course(course: Path, assignment: str, db_url: str) -> None:
    """nbgrader's course folder: config, source notebook and gradebook entry (once per source version).

    `grade` runs it in a thread while the submissions are being graded: nothing in it depends on them.
    """
    course.mkdir(parents=True, exist_ok=True)
    from autograder import feedback

    config = NBGRADER_CONFIG.format(root=str(course), db_url=db_url) + feedback.nbgrader_config()
    _write_private(course / "nbgrader_config.py", config)  # it holds --db, password included
    if _source_is_current(course, assignment):
        return
    source = chapter(assignment).solution()
    target = course / "source" / assignment
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / source.name)
    with gradebook_lock(db_url):  # nbgrader adds the course's rows: one run at a time
        _ensure_course_row(db_url)
        _run_nbgrader(course, "generate_assignment", assignment, "--force")
    (course / f".source-{assignment}.sha256").write_text(hashlib.sha256(source.read_bytes()).hexdigest())




def _canonical_notebook(assignment: str, result: GradingResult) -> nbformat.NotebookNode:
    """The released notebook with the student's solution code, their written answers (as inert
    text) and the verdicts as test outputs. Everything else is the released original.

    Student text is shown as typed: control characters in the code (a bidirectional override
    would reorder what the instructor reads) and terminal escapes in messages made visible.
    """
    from autograder.sanitize import inert_message, visible_controls

    nb = nbformat.read(chapter(assignment).notebook(), as_version=4)
    code = dict(result.cells)
    for cell in nb.cells:
        role, grade_id = cell_role(cell), cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code":
            cell.outputs = []
        if role == ANSWER and grade_id in result.answers:
            cell.source = result.answers[grade_id]
        elif role == SOLUTION and grade_id in code:
            cell.source = visible_controls(code[grade_id])
        elif role == TEST and grade_id in result.verdicts:
            verdict = result.verdicts[grade_id]
            message = inert_message(verdict.message)
            if verdict.passed:
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=message + "\n")]
            else:
                cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue=message,
                                                       traceback=[f"AssertionError: {message}"])]
    return nb


def _write_receipts(target: Path, receipts: dict[str, str]) -> None:
    """Put the exchange's timestamp.txt and submission_secret.txt beside the canonical notebook.

    nbgrader carries them through autograde into feedback/<student>/<assignment>/, where
    `nbgrader release_feedback` needs both: it names the released file after the secret, the
    name the student's `nbgrader fetch_feedback` looks for. (Names come from a fixed list.)
    """
    for name in submissions.EXCHANGE_RECEIPTS:
        if name in receipts:
            (target / name).write_text(receipts[name])



def _grade_fingerprints(assignment: str, db_url: str) -> dict[str, str]:
    """{student: digest of every grade and comment}: what a feedback file was made from."""
    from nbgrader.api import Gradebook

    prints = {}
    with Gradebook(db_url) as gradebook:
        for notebook in gradebook.notebook_submissions(assignment, assignment):
            facts = sorted((g.name, g.auto_score, g.manual_score, g.extra_credit) for g in notebook.grades)
            facts += sorted((c.name, c.auto_comment, c.manual_comment) for c in notebook.comments)
            prints[notebook.student.id] = hashlib.sha256(repr(facts).encode()).hexdigest()
    return prints


def _refresh_feedback(course: Path, assignment: str, db_url: str, jobs: int = 1) -> None:
    """(Re)generate the feedback of every student whose grades or comments changed since the last one.

    That covers new submissions and the instructor's manual grading in the formgrader alike.
    Rendering a page costs about 0.9 s, so `jobs` nbgrader processes share the students.
    """
    record = course / f".feedback-{assignment}.json"
    before = json.loads(record.read_text()) if record.is_file() else {}
    now = _grade_fingerprints(assignment, db_url)
    changed = [student for student, digest in now.items() if before.get(student) != digest
               or not (course / "feedback" / student / assignment / f"{assignment}.html").is_file()]
    if not changed:
        return
    for student in changed:
        shutil.rmtree(course / "feedback" / student / assignment, ignore_errors=True)
    _run_nbgrader_shared(course, "generate_feedback", assignment, changed, everyone=sorted(now), jobs=jobs)
    record.write_text(json.dumps(now, indent=1, sort_keys=True))


def _run_nbgrader_shared(course: Path, command: str, assignment: str, students: list[str], everyone: list[str],
                         jobs: int) -> None:
    """Run an nbgrader command for `students` as `jobs` processes at once, each for its share of them.

    nbgrader takes one student or all of them, so each process is told whom to leave out
    (`student_id_exclude`: the students of `everyone` outside its share).
    """
    from concurrent.futures import ThreadPoolExecutor

    shares = [share for share in (students[i::max(1, jobs)] for i in range(max(1, jobs))) if share]
    if len(shares) <= 1:
        _run_nbgrader(course, command, assignment, notebooks=len(students))
        return

    def run(share: list[str]) -> None:
        others = ",".join(sorted(set(everyone) - set(share)))
        _run_nbgrader(course, command, assignment, f"--CourseDirectory.student_id_exclude={others}", notebooks=len(share))

    with ThreadPoolExecutor(len(shares)) as pool:
        list(pool.map(run, shares))  # re-raises the first failure


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"




def resource_summary(results: list[GradingResult], timeout: float) -> str:
    """One line: the grader's own peak memory by process kind, and the slowest submission against --timeout.

    Only what this run graded counts (a resumed submission carries the figures of its own run).
    """
    import resource

    def most(figure: str) -> int:
        return max((getattr(result, figure) for result in results), default=0)

    slowest = max(results, key=lambda result: result.seconds, default=GradingResult("-", "", ""))
    main = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    nbgrader = max(NBGRADER_PEAK_MB.values(), default=0)
    return (f"grader memory (peak resident): this process {main} MB, checks {most('grader_peak_mb')} MB, "
            f"notebook reader {most('reader_peak_mb')} MB, nbgrader {nbgrader} MB; slowest submission "
            f"{slowest.student_id} {slowest.seconds:g} s (--timeout {timeout:g})")


# -- the batch: grade() and its steps, in order ------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """One `grade` run: the chapter's graded cells, where the run writes, how each submission is graded."""

    assignment: str
    tests: tuple[TestCell, ...]
    answers: tuple[AnswerCell, ...]
    out: Path                 # the --out folder: grades.csv, feedback/, results/, ledger.csv, salt
    db_url: str
    salt: str
    jobs: int
    timeout: float
    memory: float
    sandbox: str
    warm: bool
    cluster: str | None

    @property
    def course(self) -> Path:
        """nbgrader's course folder (its gradebook too, unless --db names another)."""
        return self.out / "nbgrader"

    @property
    def results(self) -> Path:
        """results/<student>.json: each graded submission's result, the resume point."""
        return self.out / "results"


def grade(assignment: str, paths: list[Path], out: Path, jobs: int = 1, timeout: float = 300.0,
          memory: float = 4.0, force: bool = False, db_url: str | None = None, sandbox: str = "bwrap",
          progress: bool = True, warm: bool = True, cluster: str | None = None) -> tuple[list[GradingResult], int]:
    """Grade every submission in `paths`; write out/grades.csv and out/feedback/.

    `cluster`: a Dask scheduler's address; the submissions are graded on its workers instead of
    a pool of `jobs` processes here (`autograder.cluster`). Returns the per-submission results
    and how many written answers await manual grading.
    """
    started = time.monotonic()
    batch = _open(assignment, out, db_url, jobs=jobs, timeout=timeout, memory=memory, sandbox=sandbox, warm=warm,
                  cluster=cluster)
    with _course_prepared_meanwhile(batch), _scratch_folder(batch) as scratch:
        todo, done, receipts = _collect(batch, paths, scratch, force)
        fresh = _grade(batch, todo, receipts, progress)
    with gradebook_lock(batch.db_url):  # one run at a time per gradebook
        bookkeeping_started = time.monotonic()  # nbgrader's bookkeeping, serial, once per run (not the wait)
        _write_canonical_notebooks(batch, fresh)
        _autograde(batch, fresh)
        results = sorted(done + fresh, key=lambda result: result.student_id)
        _write_feedback(batch, results)
        pending = _write_grades_csv(batch, [result.student_id for result in results])
        bookkeeping = time.monotonic() - bookkeeping_started
    _record_costs(batch, fresh, bookkeeping, time.monotonic() - started)
    return results, pending


def _open(assignment: str, out: Path, db_url: str | None, **settings) -> Batch:
    """Refuse now what would fail every submission; make the --out folder and its salt; the run's Batch."""
    from autograder import references
    from autograder.sandbox import SandboxUnavailable, bwrap_path, check_interpreter

    local_sandbox = settings["sandbox"] == "bwrap" and not settings["cluster"]  # on a cluster, each worker checks its own
    if local_sandbox and bwrap_path() is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`, "
                                 "or grade a trusted batch with `--sandbox none`")
    if local_sandbox:
        check_interpreter()  # else every worker would fail to start and every submission score 0
    tests, answers = tuple(autograded_cells(assignment)), tuple(answer_cells(assignment))
    references.load(assignment)  # a missing, tampered or stale reference file stops the batch here
    out = out.resolve()
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "nbgrader").mkdir(parents=True, exist_ok=True)
    db_url = db_url or default_db_url(out / "nbgrader")
    check_database(db_url)  # before the batch: a wrong --db must not cost a whole grading run
    salt_file = out / "salt"
    if not salt_file.is_file():
        salt_file.write_text(secrets.token_hex(16))
    batch = Batch(assignment, tests, answers, out, db_url, salt_file.read_text().strip(), **settings)
    _source_is_current(batch.course, assignment)  # a gradebook made from other solutions stops the batch here
    return batch


@contextlib.contextmanager
def _course_prepared_meanwhile(batch: Batch):
    """nbgrader's course folder (`_prepare_course`), prepared in a thread while the body grades;
    its error, if any, raised after the body."""
    # Import what both threads use before there are two: Python lets a second thread importing the
    # same package see it half-initialised ("cannot import name ... partially initialized module").
    import nbgrader.api  # noqa: F401
    import nbgrader.utils  # noqa: F401

    from autograder import feedback  # noqa: F401

    preparing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbgrader-course")
    course_ready = preparing.submit(_prepare_course, batch.course, batch.assignment, batch.db_url)
    preparing.shutdown(wait=False)
    try:
        yield
    finally:
        concurrent.futures.wait([course_ready])  # never leave nbgrader half-way through the course folder
    course_ready.result()  # its error, if any


@contextlib.contextmanager
def _scratch_folder(batch: Batch):
    """out/tmp/, where zips are unpacked while their submissions are graded; removed afterwards."""
    scratch = batch.out / "tmp"
    scratch.mkdir(exist_ok=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _collect(batch: Batch, paths: list[Path], scratch: Path,
             force: bool) -> tuple[list[GradingTask], list[GradingResult], dict[str, dict[str, str]]]:
    """The submissions in `paths`: a task for each not graded yet, the results of the others (resumed
    from results/, unless `force`), and every submission's exchange receipts."""
    from autograder import families
    from autograder.sandbox import prepare as prepare_sandbox

    forbidden = families.for_chapter(batch.assignment)
    mounts = prepare_sandbox(forbidden) if batch.sandbox == "bwrap" and not batch.cluster else []
    subs = submissions.collect(paths, batch.assignment, workdir=scratch)
    if not subs:
        raise submissions.SubmissionError(f"no .ipynb notebooks found in {', '.join(map(str, paths))}")
    todo, done = [], []
    for sub in subs:
        previous = None if force else _resumable(batch.results / f"{sub.student_id}.json", sub)
        if previous is not None:
            done.append(previous)
            continue
        todo.append(GradingTask(sub.student_id, sub.origin, sub.sha256, batch.salt, batch.tests,
                                answers=tuple(a.grade_id for a in batch.answers), path=str(sub.path),
                                problems=tuple(sub.problems), unusable=sub.unusable, timeout=batch.timeout,
                                memory=batch.memory, sandbox=batch.sandbox, forbidden=tuple(f.name for f in forbidden),
                                mounts=tuple(tuple(mount) for mount in mounts), warm=batch.warm))
    return todo, done, {sub.student_id: sub.receipts for sub in subs}  # a new exchange submission is graded anew


def _resumable(cached: Path, sub: submissions.Submission) -> GradingResult | None:
    """The result saved for `sub` by an earlier run, if it is of the same notebook and receipts and not a grader error."""
    if not cached.is_file():
        return None
    previous = json.loads(cached.read_text())
    if (previous.get("sha256") == sub.sha256 and previous.get("receipts", {}) == sub.receipts
            and not previous.get("grader_error")):
        return GradingResult.from_dict(previous)
    return None


def _grade(batch: Batch, todo: list[GradingTask], receipts: dict[str, dict[str, str]],
           progress: bool) -> list[GradingResult]:
    """Grade every task; save each result in results/ as soon as it arrives, so an interrupted run resumes there."""
    from tqdm.auto import tqdm

    fresh = []
    if not todo:
        return fresh
    with _graded(todo, batch.jobs, batch.cluster) as graded:
        bar = tqdm(total=len(todo), desc=f"grading {batch.assignment}", unit="submission", disable=not progress)
        for result in graded:
            result.receipts = receipts[result.student_id]
            (batch.results / f"{result.student_id}.json").write_text(json.dumps(result.to_dict(), indent=1))
            fresh.append(result)
            bar.update()
        bar.close()
    return fresh


@contextlib.contextmanager
def _graded(todo: list[GradingTask], jobs: int, cluster: str | None):
    """Each task's result as it completes: from `jobs` processes here, or from the Dask cluster at `cluster`."""
    if cluster:
        from autograder import cluster as dask_cluster

        with contextlib.closing(dask_cluster.results(cluster, todo)) as results:
            yield results
        return
    context = multiprocessing.get_context("forkserver")
    with context.Pool(processes=max(1, min(jobs, len(todo)))) as pool:
        yield pool.imap_unordered(grade_one_safely, todo)
        pool.close()  # the jobs exit normally, so each stops its warm template (warm_sandbox.close_all)
        pool.join()


def _write_canonical_notebooks(batch: Batch, fresh: list[GradingResult]) -> None:
    """nbgrader's submitted/<student>/: the canonical notebook of each fresh result, with its receipts."""
    for result in fresh:
        for stage in ("submitted", "autograded", "feedback"):
            shutil.rmtree(batch.course / stage / result.student_id / batch.assignment, ignore_errors=True)
        target = batch.course / "submitted" / result.student_id / batch.assignment
        target.mkdir(parents=True)
        nbformat.write(_canonical_notebook(batch.assignment, result), target / f"{batch.assignment}.ipynb")
        _write_receipts(target, result.receipts)


def _autograde(batch: Batch, fresh: list[GradingResult]) -> None:
    """`nbgrader autograde` of the fresh submissions: their scores into the gradebook."""
    if not fresh and (batch.out / "grades.csv").is_file():
        return
    submitted = sorted(p.name for p in (batch.course / "submitted").iterdir() if p.is_dir())
    writers = 1 if batch.db_url.startswith("sqlite") else batch.jobs  # SQLite: one writer at a time, or "database is locked"
    _run_nbgrader_shared(batch.course, "autograde", batch.assignment, [r.student_id for r in fresh], submitted, writers)


def _write_feedback(batch: Batch, results: list[GradingResult]) -> None:
    """`nbgrader generate_feedback` where grades changed, then out/feedback/<student>/<assignment>.html for all."""
    _refresh_feedback(batch.course, batch.assignment, batch.db_url, jobs=batch.jobs)
    for result in results:
        html = batch.course / "feedback" / result.student_id / batch.assignment / f"{batch.assignment}.html"
        if html.is_file():
            (batch.out / "feedback" / result.student_id).mkdir(parents=True, exist_ok=True)
            shutil.copy2(html, batch.out / "feedback" / result.student_id / f"{batch.assignment}.html")


def _write_grades_csv(batch: Batch, students: list[str]) -> int:
    """grades.csv from the gradebook; returns how many written answers still await manual grading.

    A column per graded cell (test cells, then answer cells). An answer cell's column stays empty
    until the instructor grades it in nbgrader's formgrader; `score` counts what is graded so far
    and `max_score` everything, so the CSV is honest at every stage.
    """
    from nbgrader.api import Gradebook

    graded = [cell.grade_id for cell in (*batch.tests, *batch.answers)]
    rows, pending = [], 0
    with Gradebook(batch.db_url) as gradebook:
        for student in students:
            notebook = gradebook.find_submission_notebook(batch.assignment, batch.assignment, student)
            scores = {grade.name: None if grade.needs_manual_grade else grade.score for grade in notebook.grades}
            pending += sum(1 for grade in notebook.grades if grade.needs_manual_grade)
            rows.append([student, batch.assignment, _fmt(notebook.score), _fmt(notebook.max_score)]
                        + [_fmt(scores.get(grade_id, 0.0)) for grade_id in graded])
    with open(batch.out / "grades.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "assignment", "score", "max_score"] + graded)
        writer.writerows(rows)
    return pending


def _record_costs(batch: Batch, fresh: list[GradingResult], bookkeeping: float, wall: float) -> None:
    """The run's rows in out/ledger.csv; its figures and summary line in LAST_RUN."""
    from autograder import ledger

    LAST_RUN.clear()
    LAST_RUN.update(ledger.record(batch.out, batch.assignment, fresh, jobs=batch.jobs, bookkeeping_seconds=bookkeeping,
                                  wall_seconds=wall))
