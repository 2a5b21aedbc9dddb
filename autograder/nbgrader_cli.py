"""nbgrader's command line, started the way the grader starts its own processes (autograder.quick_start).

`python -m autograder.nbgrader_cli autograde 02_dropout ...` is `nbgrader autograde 02_dropout ...`
with about 1.4 s less start-up; the grader runs every nbgrader command through it.
"""
from autograder.quick_start import skip_iri_parsers

if __name__ == "__main__":
    skip_iri_parsers()
    from nbgrader.apps.nbgraderapp import main

    main()
