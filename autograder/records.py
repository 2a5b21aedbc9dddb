"""The records of grading: a task (one submission to grade) and its result, typed once.

`grading` makes a `GradingTask` per submission on the instructor's machine; `grading.grade_one`
turns it into a `GradingResult`, in a pool process here (the records pickled as they are) or on a
Dask worker (`autograder.cluster`). Across machines they travel as plain values, in an explicit
wire format: `GradingTask.to_wire` carries the notebook's bytes instead of its path and the
course fingerprint the worker must match (`from_wire` reads it back there), and a result travels
as `GradingResult.to_dict`, the same JSON that OUT/results/<student>.json keeps as the resume point.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields

from dlcourse.course import TestCell

MAX_MESSAGE = 1000  # characters of one verdict's message: student text inside it is cut, never shown whole
MAX_PROBLEM = 300   # characters of one problem noted about a submission


def cut(text, limit: int = MAX_MESSAGE) -> str:
    """`text` at most `limit` characters long, saying so when it was cut."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + " ... (cut)"


@dataclass(frozen=True)
class Outcome:
    """The verdict recorded for one test cell: the output its cell shows in the canonical notebook."""

    passed: bool
    message: str


@dataclass(frozen=True)
class GradingTask:
    """Everything `grade_one` needs to grade one submission, and nothing else."""

    student_id: str
    origin: str                        # what the instructor gave, for messages
    sha256: str                        # of the notebook's bytes: with the salt, it seeds the hidden checks
    salt: str                          # the output folder's secret (OUT/salt)
    tests: tuple[TestCell, ...]        # the chapter's autograded test cells, in order
    answers: tuple[str, ...] = ()      # grade_ids of the written answers to read
    path: str | None = None            # the notebook, on the machine that grades it
    problems: tuple[str, ...] = ()     # found while collecting the submission
    unusable: str | None = None        # why it cannot be graded at all (it scores 0)
    timeout: float = 300.0             # seconds for the whole submission
    memory: float = 4.0                # GB of address space for the student's code
    sandbox: str = "bwrap"
    forbidden: tuple[str, ...] = ()    # the families (`autograder.families`) the sandbox locks
    mounts: tuple[tuple[str, str], ...] = ()  # this machine's sandbox mounts for them
    warm: bool = False                 # fork the worker from a warm template

    def seed(self, test: TestCell) -> int:
        """The seed of one test's fresh inputs: the same submission in the same folder draws the same."""
        return int(hashlib.sha256(f"{self.salt}:{self.sha256}:{test.grade_id}".encode()).hexdigest()[:12], 16)

    def all_failed(self, reason: str) -> dict[str, Outcome]:
        """Every test failed, for `reason`."""
        return {test.grade_id: Outcome(False, cut(f"{test.part}: {reason}")) for test in self.tests}

    def not_graded(self, reason: str) -> GradingResult:
        """The result when the grader itself (or the cluster) failed: not a verdict on the student,
        so the next run grades the submission again."""
        return GradingResult(self.student_id, self.sha256, self.origin, verdicts=self.all_failed(reason),
                             problems=[*self.problems, reason], grader_error=True)

    # -- the wire format of the Dask path (autograder.cluster) --------------------------------

    LOCAL = ("path", "mounts")  # what names the sending machine's disk: never travels

    def to_wire(self, notebook: bytes | None, manifest: dict[str, str], fingerprint: str) -> dict:
        """The task as plain values for another machine: the notebook's bytes (None: unusable), the
        course version it must be graded with (its manifest and fingerprint), no local path or mounts."""
        travelling = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.LOCAL}
        return {**travelling, "tests": [asdict(test) for test in self.tests], "answers": list(self.answers),
                "problems": list(self.problems), "forbidden": list(self.forbidden),
                "notebook": notebook, "manifest": manifest, "fingerprint": fingerprint}

    @classmethod
    def from_wire(cls, wire: dict, path: str, mounts: list[tuple[str, str]]) -> GradingTask:
        """The task `to_wire` sent, graded here from the notebook written to `path` with this machine's `mounts`."""
        values = {f.name: wire[f.name] for f in fields(cls) if f.name not in cls.LOCAL and f.name in wire}
        values.update(tests=tuple(TestCell(**test) for test in wire["tests"]), answers=tuple(wire["answers"]),
                      problems=tuple(wire["problems"]), forbidden=tuple(wire["forbidden"]))
        return cls(**values, path=path, mounts=tuple(tuple(mount) for mount in mounts))


@dataclass
class GradingResult:
    """One submission graded: the verdicts, what the student wrote (as the grader read it), the costs."""

    student_id: str
    sha256: str
    origin: str
    cells: list[tuple[str, str]] = field(default_factory=list)  # (part, source) of each graded part found
    answers: dict[str, str] = field(default_factory=dict)       # answer grade_id -> inert markdown
    verdicts: dict[str, Outcome] = field(default_factory=dict)  # test grade_id -> its outcome
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0            # wall time of the whole grading (the ledger's wall_seconds)
    cpu_seconds: float = 0          # checker + reader + worker
    checker_cpu_seconds: float = 0  # the checks, in the grading process
    reader_cpu_seconds: float = 0   # the confined child that read the notebook
    worker_cpu_seconds: float = 0   # the sandboxed worker's process tree, restarts included
    worker_peak_mb: int = 0
    grader_peak_mb: int = 0
    reader_peak_mb: int = 0
    grader_error: bool = False      # the grader failed: graded again on the next run
    receipts: dict[str, str] = field(default_factory=dict)      # the exchange's receipts (nbgrader's layout)
    graded_on: dict[str, str] | None = None                     # the cluster worker that graded it

    @property
    def passed(self) -> int:
        """How many test cells passed."""
        return sum(outcome.passed for outcome in self.verdicts.values())

    def to_dict(self) -> dict:
        """Plain JSON values: OUT/results/<student>.json, and what a cluster worker sends back."""
        return {**asdict(self), "cells": [list(cell) for cell in self.cells]}

    @classmethod
    def from_dict(cls, data: dict) -> GradingResult:
        """A result `to_dict` wrote (a missing figure is 0, as a failed grading leaves it)."""
        known = {f.name for f in fields(cls)}
        result = cls(**{key: value for key, value in data.items() if key in known})
        result.cells = [tuple(cell) for cell in result.cells]
        result.verdicts = {grade_id: Outcome(**outcome) for grade_id, outcome in result.verdicts.items()}
        return result
