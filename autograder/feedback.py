"""nbgrader's feedback pages, as this course shows them.

- `HideHiddenTests`: students see each check's verdict, never the hidden tests' code.
- `GetGradesAwaiting`: nbgrader's GetGrades, plus which written answers the instructor has not
  graded yet, so the page says "Awaiting grading" instead of a score of 0 that is not one.
- `TEMPLATE_NAME` (autograder/templates/course_feedback/): nbgrader's feedback template with
  those labels, and with diagnoses wrapped to the page's width (feedback.css).

- `FeedbackExporter`: nbconvert's HTML exporter made cheap for a class (see its docstring).

`nbgrader_config()` is the configuration `nbgrader generate_feedback` needs for all of them. The
template is set for GenerateFeedback's own exporter only (`c.GenerateFeedback.HTMLExporter`):
the formgrader reads the same nbgrader_config.py and must keep its own template.
"""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "course_feedback"
TEMPLATE_FILE = "course_feedback.html.j2"  # not index.html.j2: that name is nbgrader's, which this one extends


class HideHiddenTests(NbGraderPreprocessor):
    """Replace every BEGIN/END HIDDEN TESTS block in a cell's source with a one-line note."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = _HIDDEN.sub("# (hidden tests: their verdict is shown below)\n", cell.source)
        return cell, resources


class GetGradesAwaiting(GetGrades):
    """GetGrades, also marking each cell that still needs a manual grade (the template shows it as awaiting).

    nbgrader counts an ungraded answer as 0 points, which reads as a verdict; the gradebook knows
    better (`needs_manual_grade`), and so should the page.
    """

    def _get_score(self, cell, resources):
        """The cell's score and points, as GetGrades records them, and whether it awaits the instructor."""
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        cell.metadata["nbgrader"]["awaiting_grading"] = bool(grade.needs_manual_grade)

    def preprocess(self, nb, resources):
        """All cells' grades, then the points still awaiting grading in all (for the page's header)."""
        nb, resources = super().preprocess(nb, resources)
        resources["nbgrader"]["awaiting_points"] = awaiting_points(nb)
        return nb, resources


def awaiting_points(nb) -> float:
    """The points of the cells GetGradesAwaiting marked as awaiting a manual grade."""
    return sum(cell.metadata["nbgrader"]["points"] for cell in nb.cells
               if cell.metadata.get("nbgrader", {}).get("awaiting_grading"))


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, the same page for about a third of the work on a class's notebooks.

    Every student's page repeats the chapter's text and code, so within one nbgrader run the
    rendered markdown and the highlighted code are kept by source. And the finished page is not
    parsed again with BeautifulSoup, as HTMLExporter does, only to add `tabindex` to cells and
    outputs and `alt` to images: two regular expressions add the same attributes.
    """

    _FOCUSABLE = re.compile(r'<div class="([^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*)"')
    _IMAGE_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._markdown: dict = {}
        self._highlighted: dict = {}

    @jinja2.pass_context  # as HTMLExporter's: the template passes its context (the cell, the resources)
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        key = (source, repr(cell.get("attachments")), context.get("resources", {}).get("metadata", {}).get("path"))
        if key not in self._markdown:
            self._markdown[key] = super().markdown2html(context, source)
        return self._markdown[key]

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter.from_notebook_node with a remembering highlighter and without the re-parse."""
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self._remembering(highlight))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        html = self._FOCUSABLE.sub(r'<div class="\1" tabindex="0"', html)
        html = self._IMAGE_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
        return html, resources

    def _remembering(self, highlight):
        def remembered(source, language=None, metadata=None):
            key = (highlight.pygments_lexer, source, language, repr(metadata))
            if key not in self._highlighted:
                self._highlighted[key] = highlight(source, language, metadata)
            return self._highlighted[key]

        return remembered


def template_basedirs() -> list[str]:
    """Where nbconvert looks for templates: ours, then nbgrader's (ours extends its feedback template)."""
    import nbgrader

    formgrader_templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    return [str(TEMPLATES), str(formgrader_templates)]


NBGRADER_CONFIG = '''
from autograder.feedback import (FeedbackExporter, GetGradesAwaiting, HideHiddenTests, TEMPLATE_FILE, TEMPLATE_NAME,
                                 template_basedirs)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

c.GenerateFeedback.preprocessors = [GetGradesAwaiting, HideHiddenTests, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = FeedbackExporter
# GenerateFeedback's exporter only: the formgrader reads this file too and keeps its own template.
c.GenerateFeedback.HTMLExporter.template_name = TEMPLATE_NAME
c.GenerateFeedback.HTMLExporter.template_file = TEMPLATE_FILE
c.GenerateFeedback.HTMLExporter.extra_template_basedirs = template_basedirs()
'''


def nbgrader_config() -> str:
    """The lines of nbgrader_config.py (after `c = get_config()`) that make the course's feedback pages."""
    return NBGRADER_CONFIG
