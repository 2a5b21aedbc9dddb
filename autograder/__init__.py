"""The course's grading package: `python -m autograder release|references|grade|plan|translations|validate`.

`release` regenerates notebooks/ (and the Korean edition) from solutions/ with real nbgrader;
`references` rebuilds data/reference/; `grade` grades a class, sandboxed, through nbgrader
(`grading`, its records in `records`, the checks in `checks/`); `plan` predicts a class's grading
time from the cost `ledger`; `validate` is the students' check of a saved notebook (`selfcheck`).
autograder/README.md explains how grading works and what it withstands. Which chapters are graded,
and by which checks, is the course model's (`dlcourse.course`).
"""
