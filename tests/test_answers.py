"""Written answers to the manually graded questions: found by grade_id, carried as inert, sanitised HTML."""
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from autograder import answers as answer_text, sanitize
from sample_notebooks import ROOT


def _notebook(tmp_path, cells):
    path = tmp_path / "student.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _answer(grade_id, text, solution=True):
    return {"cell_type": "markdown", "source": text, "metadata": {"nbgrader": {
        "grade": True, "solution": solution, "grade_id": grade_id, "points": 1, "locked": False}}}


def test_answers_are_found_by_grade_id_and_missing_ones_reported(tmp_path):
    path = _notebook(tmp_path, [
        {"cell_type": "markdown", "source": "Question 1: why?", "metadata": {}},
        _answer("q_why", ["Because the gradient ", "vanishes."]),
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": None},
    ])
    answers, problems = answer_text.answer_cells(path, ["q_why", "q_how"])
    assert answers == {"q_why": "Because the gradient vanishes."}
    assert len(problems) == 1 and "q_how" in problems[0] and "unanswered" in problems[0]


# Each a way a written answer could try to run, fetch or restyle something in a reader's browser.
HOSTILE_ANSWERS = {
    "script": '<script>document.title = "pwned"</script> after',
    "img onerror": '<img src=x onerror="window.pwned = 1">',
    "javascript link": "[click me](javascript:alert(1)) and [tab](java&#9;script:alert(1))",
    "vbscript link": "[vb](vbscript:msgbox(1))",
    "data link": '[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) <a href="data:text/html,x">raw</a>',
    "autolink": "<javascript:alert(1)> <data:text/html,x>",
    "relative link": "[api](/formgrader/api/submission/1) [here](#top)",
    "remote image": "![the plot](http://127.0.0.1:9/steal.png?c=1 \"title\")",
    "image in a link": "[![x](http://127.0.0.1:9/a.png)](http://127.0.0.1:9/b)",
    "svg onload": "<svg onload=alert(1)><circle r=5 /></svg>",
    "iframe, object, embed, form": ('<iframe src="http://x"></iframe><object data=x></object><embed src=x>'
                                    "<form action=x><input></form>"),
    "style, link, meta, base": ("<style>body{display:none}</style><link rel=stylesheet href=x>"
                                '<meta http-equiv=refresh content="0;url=x"><base href="http://x/">'),
    "style attribute": '<p style="position:fixed;top:0">fake banner</p>',
    "breakout": "</div></div><script>window.pwned = 1</script><div>",
    "unterminated comment": "before <!-- everything after could vanish",
    "cdata": "<![CDATA[ <script>alert(1)</script> ]]>",
    "entities": "&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;",
    "html block with blank lines": "<div>\n\n<script>alert(1)</script>\n\n</div>\n\n<img src=x onerror=alert(1)>",
    "fenced code": "```html\n</pre></div><script>alert(1)</script>\n```",
    "math": "$\\href{javascript:alert(1)}{x}$ and $$<script>alert(1)</script>$$",
    "unicode tricks": "safe\u202e)1(trela\u2066 \u2028<script>alert(1)</script>\x0c\x85\ufeff",
    "heading ids": "# submission_id\n\n## notebook_id",
}
FORBIDDEN_TAGS = {"script", "img", "iframe", "object", "embed", "form", "input", "style", "link", "meta",
                  "base", "svg", "math", "frame", "video", "audio", "source"}


class _Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.tags


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_hostile_answer_becomes_inert_html(name):
    """No tag, attribute or URL that could run or fetch anything survives, whatever the trick."""
    out = answer_text.inert_markdown(HOSTILE_ANSWERS[name])
    for tag, attrs in _elements(out):
        assert tag not in FORBIDDEN_TAGS, (name, out)
        live = [a for a in attrs if a.startswith("on") or a in ("style", "id", "src", "srcset", "action")]
        assert not live, (name, out)
        if "href" in attrs:
            assert attrs["href"].split(":", 1)[0] in ("http", "https", "mailto"), (name, out)
        if tag == "a":
            assert attrs.get("rel") == "noopener noreferrer nofollow", (name, out)


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_nbconvert_passes_an_inert_answer_through_unchanged(name):
    """One line, one `<div>`: nbconvert's markdown renderer (feedback and formgrader) re-reads none of it."""
    out = answer_text.inert_markdown(HOSTILE_ANSWERS[name])
    assert "\n" not in out and out.startswith("<div") and out.endswith("</div>")
    assert markdown2html_mistune(out).strip() == out


def test_html_in_an_answer_is_shown_never_run(tmp_path):
    hostile = '<script>fetch("/api/grades")</script><img src=x onerror="alert(1)"> &amp; 2 < 3'
    path = _notebook(tmp_path, [_answer("q", hostile)])
    text = answer_text.answer_cells(path, ["q"])[0]["q"]
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text and "&lt;img src=x onerror" in text  # shown as typed
    assert "&amp;amp;" in text  # an entity typed by the student stays visible as typed


def test_an_answer_still_reads_as_markdown():
    """Headings, emphasis, lists, safe links, code (newlines kept inside <pre>) and math survive."""
    out = answer_text.inert_markdown("# Why\n\nThe *gradient* is **zero**:\n\n- one\n- two\n\n"
                                     "See [the paper](https://arxiv.org/abs/1502.01852).\n\n"
                                     "```python\nw = torch.zeros(3)\nprint(w)\n```\n\nstd $\\sqrt{2/n_{in}}$")
    assert "<h1>Why</h1>" in out and "<em>gradient</em>" in out and "<strong>zero</strong>" in out
    assert "<li>one</li>" in out
    assert '<a href="https://arxiv.org/abs/1502.01852" rel="noopener noreferrer nofollow">the paper</a>' in out
    assert re.search(r"<pre>.*torch.*&#10;.*print.*</pre>", out)  # the code's line break, as a character reference
    assert "$\\sqrt{2/n_{in}}$" in out  # left for MathJax, not mangled into emphasis


def test_a_link_the_sanitiser_drops_shows_where_it_pointed():
    out = answer_text.inert_markdown("[notes](javascript:alert(1)) <vbscript:x> [api](/formgrader/api)")
    assert "notes [link removed: javascript:alert(1)]" in out and "vbscript:x [link removed]" in out
    assert "api [link removed: /formgrader/api]" in out and "<a" not in out


def test_task_boxes_show_as_text():
    out = answer_text.inert_markdown("- [x] done\n- [ ] to do")
    assert "<li>[x] done</li>" in out and "<li>[ ] to do</li>" in out and "<input" not in out


def test_rendering_an_answer_does_not_import_nbconvert():
    """The confined notebook reader renders answers once per submission: importing nbconvert costs seconds."""
    probe = "import sys, autograder.answers; print('nbconvert' in sys.modules)"
    found = subprocess.run([sys.executable, "-I", "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert found.stdout.strip() == "False", found.stderr


def test_an_image_shows_as_its_description_and_address():
    out = answer_text.inert_markdown("![loss curve](http://127.0.0.1:9/plot.png)")
    assert "<img" not in out and "loss curve" in out and "http://127.0.0.1:9/plot.png" in out


def test_invisible_controls_are_shown():
    out = answer_text.inert_markdown("abc\u202edef and \x1b[31mred")
    assert "[U+202E]" in out and "[U+001B]" in out and "\u202e" not in out and "\x1b" not in out


def test_plain_words_are_kept_as_typed_so_an_untouched_answer_still_scores_zero():
    """nbgrader scores an answer 0 at once only when its source is byte-identical to the release."""
    assert answer_text.inert_markdown("YOUR ANSWER HERE") == "YOUR ANSWER HERE"
    assert answer_text.inert_markdown("YOUR ANSWER HERE <b>") != "YOUR ANSWER HERE <b>"


def test_a_huge_answer_is_cut_and_says_where(tmp_path):
    path = _notebook(tmp_path, [_answer("q", "word " * 10_000 + "THE END")])
    text = answer_text.answer_cells(path, ["q"])[0]["q"]
    assert len(text) < answer_text.MAX_ANSWER_CHARS + 300 and "THE END" not in text
    assert f"only its first {answer_text.MAX_ANSWER_CHARS:,} of 50,007 characters" in text
    assert text.endswith("</div>") and "\n" not in text
    hostile = answer_text.inert_markdown("<" * 50_000)  # escaping must not let the cut be outgrown unboundedly
    assert len(hostile) < 5 * answer_text.MAX_ANSWER_CHARS


def test_code_cells_and_non_solution_cells_never_count_as_answers(tmp_path):
    path = _notebook(tmp_path, [
        {"cell_type": "code", "source": "print(1)", "outputs": [], "execution_count": None,
         "metadata": {"nbgrader": {"grade": True, "solution": True, "grade_id": "q", "points": 1}}},
        _answer("q", "a locked description cell", solution=False),
    ])
    answers, problems = answer_text.answer_cells(path, ["q"])
    assert answers == {} and problems


def test_an_unreadable_notebook_gives_no_answers_and_no_crash(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert answer_text.answer_cells(path, ["q"]) == ({}, [])


def test_messages_quoting_a_student_lose_terminal_escapes_and_show_controls():
    """For the verdicts and the terminal: no recolouring, retitling, line overwriting or reordering."""
    message = "bad\x1b[8mhidden\x1b[0m \x1b]0;retitled\x07 \x1b]52;c;cGF5bG9hZA==\x07 ok\rpassed \u202eabc\x00"
    shown = sanitize.inert_message(message)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown and "\u202e" not in shown
    assert shown == "badhidden   ok[U+000D]passed [U+202E]abc[U+0000]"
    assert sanitize.inert_message("x" * 5000, limit=100).endswith("(cut at 100 characters)")


def test_the_sanitiser_keeps_only_web_and_mail_links():
    assert sanitize.link_kept("https://pytorch.org") and sanitize.link_kept("mailto:ta@example.org")
    for url in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
                "vbscript:x", "file:///etc/passwd", "/formgrader/api", "#top", "//evil.example/x"):
        assert not sanitize.link_kept(url), url


def test_a_malformed_answer_cell_is_read_as_far_as_it_is_text(tmp_path):
    """A source that is a list holding numbers or a dict as metadata never crashes the reader."""
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["Plain words", 7, None], "metadata": {"nbgrader": {"grade_id": "q", "solution": True}}},
        {"cell_type": "markdown", "source": "x", "metadata": "not a dict"}, 3, "text"]}))
    answers, problems = answer_text.answer_cells(path, ["q", "r"])
    assert answers == {"q": "Plain words"} and "no answer cell for r" in problems[0]
