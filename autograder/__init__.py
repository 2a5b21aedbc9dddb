"""The course's grading package.

Today it holds `release` (regenerates notebooks/ from solutions/ with real nbgrader).
The grading command (`python -m autograder grade ...`) arrives with the graded chapters.
"""
