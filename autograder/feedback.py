"""nbgrader preprocessor for feedback: students see each check's verdict, never hidden test code."""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


class HideHiddenTests(NbGraderPreprocessor):
    """Replace every BEGIN/END HIDDEN TESTS block in a cell's source with a one-line note."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = _HIDDEN.sub("# (hidden tests: their verdict is shown below)\n", cell.source)
        return cell, resources
