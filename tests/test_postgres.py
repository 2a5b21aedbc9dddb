"""The gradebook in a real PostgreSQL server: `python -m autograder grade ... --db postgresql://...`.

The test starts its own server from Debian's binaries (`apt-get install postgresql`; .ci/run
installs it) in tmp_path, on a free port, creates the role and the database as the README tells an
instructor to (`createuser grader`, `createdb --owner=grader gradebook`), and stops the server at
the end whatever happened. PostgreSQL refuses to run as root: when the tests run as root, the
server runs in a user namespace of its own (`unshare`), where it is the ordinary user `nobody`
and owns its data folder (pytest's folders stay closed to every real user but root).

Three students hand in chapter 04 and chapter 05. Both classes are graded at once into the one
gradebook, made to meet at the worst moment (the test holds the gradebook until both runs wait
for it), and must agree with SQLite runs of the same submissions. Then a second run resumes
(grades nothing, changes nothing), the formgrader (`make formgrader`) reads the gradebook over its
HTTP API, and a wrong --db stops the command at once with one line naming the fix.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.grading import GRADEBOOK_LOCK, WAITING, answer_cells, autograded_cells
from browser import course_server, free_port
from sample_notebooks import ROOT, expected, fill_in, variants, write

CLASSES = {  # chapter: {student: the sample submission they hand in}
    "04_initialization": {"alice": "correct_math", "bob": "mistake_fans_swapped", "carol": "mistake_he_gain_ignored"},
    "05_overfitting": {"alice": "correct_clone_dict", "bob": "mistake_not_restoring", "carol": "mistake_patience_off_by_one"},
}
NOBODY = 65534


def server_binaries() -> Path | None:
    """bin/ of the newest PostgreSQL Debian installed (/usr/lib/postgresql/<major>/bin), or None."""
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").is_file()]
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0, default=None)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(server_binaries() is None, reason="PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are "
                                                         "not installed: `apt-get install postgresql` (.ci/run does)"),
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)"),
]


# -- the server ----------------------------------------------------------------------------------

@dataclass
class Postgres:
    bin: Path
    data: Path
    port: int

    def url(self, user: str = "grader", database: str = "gradebook") -> str:
        """The --db URL an instructor would pass."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def client(self, tool: str, *args: str) -> None:
        """Run one of PostgreSQL's client tools (createuser, createdb) as the server's superuser."""
        done = subprocess.run([str(self.bin / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} {' '.join(args)} failed: {done.stderr}"


def as_server_user(*command: str) -> subprocess.CompletedProcess:
    """Run a server binary (initdb, pg_ctl) as a non-root user: `nobody` in a user namespace when we are root."""
    prefix = ["unshare", f"--map-user={NOBODY}", f"--map-group={NOBODY}"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)


def start_server(folder: Path) -> Postgres:
    """initdb and pg_ctl start in `folder`: TCP on 127.0.0.1 only, no Unix socket, no fsync (a test's data)."""
    server = Postgres(server_binaries(), folder / "data", free_port())
    made = as_server_user(str(server.bin / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust",
                          "--no-sync", "--encoding=UTF8")
    assert made.returncode == 0, f"initdb failed:\n{made.stdout}\n{made.stderr}"
    options = f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    log = folder / "server.log"
    started = as_server_user(str(server.bin / "pg_ctl"), "-D", str(server.data), "-l", str(log), "-o", options,
                             "-w", "-t", "60", "start")
    if started.returncode != 0:
        stop_server(server)  # it may be half up
        raise AssertionError(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n"
                             f"{log.read_text() if log.is_file() else ''}")
    return server


def stop_server(server: Postgres) -> None:
    """pg_ctl stop (fast: disconnects every client); if that fails, kill the postmaster outright."""
    stopped = as_server_user(str(server.bin / "pg_ctl"), "-D", str(server.data), "-m", "fast", "-w", "-t", "60", "stop")
    pid_file = server.data / "postmaster.pid"
    if stopped.returncode != 0 and pid_file.is_file():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A fresh PostgreSQL server with the role `grader` owning the empty database `gradebook`."""
    server = start_server(tmp_path_factory.mktemp("postgres"))
    try:
        server.client("createuser", "grader")
        server.client("createdb", "--owner=grader", "gradebook")
        yield server
    finally:
        stop_server(server)


# -- grading through the command line -------------------------------------------------------------

def grade_command(chapter: str, submissions: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", chapter, str(submissions), "--out", str(out), *extra]


def environment() -> dict:
    """The instructor's shell: the virtualenv's bin/ first on PATH (nbgrader runs `alembic` by name)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def start(command: list[str], logs: Path) -> tuple[subprocess.Popen, Path, Path]:
    """Start a command in a session of its own, its output in files (two at once must not block on a pipe)."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / "stdout", logs / "stderr"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=environment(), stdout=out, stderr=err, start_new_session=True)
    return process, stdout, stderr


@contextlib.contextmanager
def background(*commands: tuple[list[str], Path]):
    """Start every (command, log folder) at once; at the end, kill what still runs, with its children."""
    runs = [start(command, logs) for command, logs in commands]
    try:
        yield runs
    finally:
        for process, _, _ in runs:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def finish(run: tuple[subprocess.Popen, Path, Path], timeout: float = 900) -> str:
    """Wait for a started command; assert it succeeded; its stdout."""
    process, stdout, stderr = run
    process.wait(timeout=timeout)
    assert process.returncode == 0, f"{process.args}: exit {process.returncode}\n{stderr.read_text()[-4000:]}"
    return stdout.read_text()


def read_grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def expected_scores(chapter: str) -> dict[str, float]:
    """{student: autograded score} from the samples' expected verdicts (written answers: 0, left unanswered)."""
    points = {test.grade_id: test.points for test in autograded_cells(chapter)}
    return {student: sum(points[cell] for cell, passed in expected(chapter)[sample].items() if passed)
            for student, sample in CLASSES[chapter].items()}


@contextlib.contextmanager
def holding_the_gradebook(url: str):
    """Hold the grader's gradebook lock (as a running `grade` would) until the block ends."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (GRADEBOOK_LOCK,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (GRADEBOOK_LOCK,))


def wait_until_waiting(runs: list, timeout: float = 600) -> None:
    """Until every run has said it waits for the gradebook (so they all reach it at the same moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process, _, stderr in runs:
            assert process.poll() is None, f"{process.args} ended before the gradebook was free:\n{stderr.read_text()[-4000:]}"
        if all(WAITING in stderr.read_text() for _, _, stderr in runs):
            return
        time.sleep(0.5)
    raise AssertionError("the runs never waited for the gradebook another run held")


@pytest.fixture(scope="module")
def classes(tmp_path_factory) -> dict[str, Path]:
    """{chapter: folder of <student>.ipynb}: the released notebook with each student's sample code."""
    root = tmp_path_factory.mktemp("classes")
    for chapter, students in CLASSES.items():
        code = variants(chapter)
        for student, sample in students.items():
            write(fill_in(chapter, code[sample]), root / chapter / f"{student}.ipynb")
    return {chapter: root / chapter for chapter in CLASSES}


@pytest.fixture(scope="module")
def graded(postgres, classes, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Both chapters graded at once into the PostgreSQL gradebook, and each into SQLite for comparison.

    The PostgreSQL runs meet at the gradebook: the test holds it until both wait for it.
    Returns {"postgres" | "sqlite": {chapter: --out folder}}.
    """
    root = tmp_path_factory.mktemp("graded")
    outs = {kind: {chapter: root / kind / chapter for chapter in CLASSES} for kind in ("postgres", "sqlite")}
    started = time.monotonic()
    on_postgres = [(grade_command(chapter, classes[chapter], out, "--db", postgres.url()), out.parent / f"{chapter}.log")
                   for chapter, out in outs["postgres"].items()]
    on_sqlite = [(grade_command(chapter, classes[chapter], out), out.parent / f"{chapter}.log")
                 for chapter, out in outs["sqlite"].items()]
    with background(*on_postgres, *on_sqlite) as runs:
        with holding_the_gradebook(postgres.url()):
            wait_until_waiting(runs[:len(on_postgres)])
        for run in runs:
            finish(run)
    print(f"graded two chapters into PostgreSQL at once (and into SQLite) in {time.monotonic() - started:.0f} s")
    return outs


# -- the tests -----------------------------------------------------------------------------------

def test_two_assignments_graded_at_once_into_one_gradebook(postgres, graded):
    """Both runs succeed; the gradebook holds every submission, every grade and the right scores."""
    from nbgrader.api import Gradebook

    for chapter in CLASSES:
        on_postgres, on_sqlite = read_grades(graded["postgres"][chapter]), read_grades(graded["sqlite"][chapter])
        assert on_postgres == on_sqlite, f"{chapter}: grades.csv differs between PostgreSQL and SQLite"
        assert {student: float(row["score"]) for student, row in on_postgres.items()} == expected_scores(chapter)
        assert not (graded["postgres"][chapter] / "nbgrader" / "gradebook.db").exists(), "an SQLite gradebook was made"

    with Gradebook(postgres.url()) as gradebook:
        assert sorted(a.name for a in gradebook.assignments) == sorted(CLASSES)
        assert sorted(s.id for s in gradebook.students) == ["alice", "bob", "carol"]  # one row each, shared
        for chapter in CLASSES:
            cells = len(autograded_cells(chapter)) + len(answer_cells(chapter))
            csv_scores = read_grades(graded["postgres"][chapter])
            for student in CLASSES[chapter]:
                submission = gradebook.find_submission(chapter, student)
                [notebook] = submission.notebooks
                assert len(notebook.grades) == cells, f"{chapter}/{student}: grades lost"
                assert f"{submission.score:g}" == csv_scores[student]["score"], f"{chapter}/{student}"


def submission_rows(url: str) -> dict[tuple[str, str], tuple[str, float]]:
    """{(assignment, student): (submission row id, score)} as the gradebook holds them."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gradebook:
        return {(chapter, student): (gradebook.find_submission(chapter, student).id,
                                     gradebook.find_submission(chapter, student).score)
                for chapter in CLASSES for student in CLASSES[chapter]}


def test_a_second_run_resumes_and_grades_nothing_new(postgres, classes, graded, tmp_path):
    """The same commands again: no submission re-graded, no row re-made, the same grades.csv."""
    outs = graded["postgres"]
    before = {chapter: (read_grades(out), {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")})
              for chapter, out in outs.items()}
    rows = submission_rows(postgres.url())
    with background(*[(grade_command(chapter, classes[chapter], out, "--db", postgres.url()), tmp_path / chapter)
                      for chapter, out in outs.items()]) as runs:
        for (chapter, out), run in zip(outs.items(), runs):
            finish(run)
            assert "grading " not in run[2].read_text(), f"{chapter}: the resumed run graded submissions again"
            grades, results = before[chapter]
            assert read_grades(out) == grades
            assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")} == results
    assert submission_rows(postgres.url()) == rows


def api(server, path: str):
    """GET one of the formgrader's JSON endpoints with the token `make formgrader` printed."""
    request = urllib.request.Request(f"{server.base}{path}", headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_the_formgrader_reads_the_postgresql_gradebook(postgres, graded, tmp_path):
    """`make formgrader DIR=<out>` serves the submissions and scores stored in PostgreSQL."""
    chapter = "04_initialization"
    out = graded["postgres"][chapter]
    config_file = out / "nbgrader" / "nbgrader_config.py"
    config = config_file.read_text()
    assert f"c.CourseDirectory.db_url = {postgres.url()!r}" in config
    assert config_file.stat().st_mode & 0o777 == 0o600, "the --db URL (a password, say) must not be world-readable"
    with course_server("formgrader", tmp_path, DIR=str(out)) as server:
        assignments = api(server, "/formgrader/api/assignments")
        submissions = api(server, f"/formgrader/api/submissions/{chapter}")
    assert [(a["name"], a["num_submissions"]) for a in assignments] == [(chapter, len(CLASSES[chapter]))]
    csv_scores = read_grades(out)
    assert {s["student"]: f"{s['score']:g}" for s in submissions} == {s: row["score"] for s, row in csv_scores.items()}
    assert all(s["autograded"] and s["max_score"] == float(csv_scores[s["student"]]["max_score"]) for s in submissions)
    assert not (out / "nbgrader" / "gradebook.db").exists(), "the formgrader made an SQLite gradebook of its own"


WRONG_DATABASES = {  # what is wrong: (the --db URL, given the server; what the one error line must say)
    "no server": (lambda pg: f"postgresql://grader@127.0.0.1:{free_port()}/gradebook", "start the server"),
    "no role": (lambda pg: pg.url(user="ghost"), "createuser ghost"),
    "no database": (lambda pg: pg.url(database="nosuch"), "createdb --owner=grader nosuch"),
    "no driver": (lambda pg: pg.url(), "pip install -r requirements.txt"),
}


@pytest.mark.parametrize("wrong", WRONG_DATABASES)
def test_a_wrong_database_stops_at_once_with_the_fix(postgres, classes, wrong, tmp_path):
    """Exit 2 before anything is graded, with one error line naming the problem and the fix."""
    make_url, fix = WRONG_DATABASES[wrong]
    out = tmp_path / "out"
    command = grade_command("04_initialization", classes["04_initialization"], out, "--db", make_url(postgres))
    if wrong == "no driver":  # as if psycopg were not installed: importing it fails
        command[1:3] = ["-c", "import sys; sys.modules['psycopg'] = None; from autograder.__main__ import main; "
                              "sys.exit(main(sys.argv[1:]))"]
    result = subprocess.run(command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --db "), result.stderr[-3000:]
    assert fix in lines[0], lines[0]
    assert not list((out / "results").glob("*.json")), "submissions were graded before the database was checked"
