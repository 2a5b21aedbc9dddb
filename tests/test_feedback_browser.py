"""In a real browser (Debian's Chromium): what a student wrote reaches the feedback and the formgrader inert.

One batch of chapter 04 is graded through the real command line, with hostile written answers,
hostile solution code (payloads in comments and strings), hostile exception messages (quoted by
the verdicts) and a hostile file name (the student id). Each feedback page, then the formgrader's
page for each submission (served by `make formgrader`), is opened in Chromium, which records every
dialog and every request; the "evil" addresses the payloads point at are served by a local HTTP
server that records every hit. Nothing may run, nothing may be fetched, no `javascript:` or
`data:` link may survive, and the answers must still be readable (screenshots in tmp_path).

A fourth student, grace, makes one honest mistake and answers every question: her feedback shows
the whole diagnosis within the page's width and her answers as awaiting grading; then the
instructor's round trip runs through the formgrader's own UI (score typed into a score box, the
same `grade` command again) and the score reaches grades.csv and her feedback. Each step's
screenshot is saved under the test's tmp_path, and a failure says where (`browser.Steps`).
"""
from __future__ import annotations

import csv
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.grading import answer_cells
from browser import Steps, chromium, course_server, free_port, needs_chromium
from sample_notebooks import ROOT, fill_in, variants, write

CHAPTER = "04_initialization"
TITLE = CHAPTER  # what the feedback and the formgrade page call themselves; a payload would change it
HOSTILE_FILE_NAME = "<svg onload=alert(9)> javascript:alert(9)"  # a legal Linux file name
MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"  # nbconvert's template loads it (blocked here)
MISTAKE = "mistake_xavier_gain_ignored"  # grace's one mistake: two failed checks with long diagnoses
GRACE_ANSWERS = {  # sensible answers, as a student would write them (the instructor grades one of them)
    "q_symmetry": "The constant 0.02 still sends a signal, so the output layer learns; but every hidden unit "
                  "stays a copy of the others, like a network with one unit per layer.",
    "q_xavier_relu": "ReLU zeroes half its inputs, so E[x^2] = Var(z) / 2 and Var(w) = 1 / fan_in halves the "
                     "variance per layer; He's Var(w) = 2 / fan_in puts the 2 back. tanh is linear near 0.",
    "q_default_init": "The earlier networks were shallow and trained with Adam; batch normalization or "
                      "residual connections also help a deep network.",
}
INSTRUCTOR_SCORE = ("q_xavier_relu", "1.5")  # what the instructor types into the formgrader


pytestmark = [
    pytest.mark.lab,
    needs_chromium,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed (.ci/run installs it)"),
]


def course_urls() -> tuple[str, ...]:
    """The addresses the chapter's own text links or embeds (its Colab badge): not the student's."""
    text = (ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    return (MATHJAX, *sorted(set(re.findall(r"https?://[^\s)\"'<>\\]+", text))))


class EvilServer:
    """The attacker's server, on 127.0.0.1: answers every request and remembers its path."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<script>alert('evil server')</script>")

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# -- the hostile batch -------------------------------------------------------------------------

def hostile_answers(evil: str) -> dict[str, str]:
    """{answer grade_id: text}: a sensible answer wrapped in every trick a markdown cell allows."""
    return {
        "q_symmetry": (
            "Zero weights keep every hidden unit identical, so **symmetry** is never broken.\n\n"
            f'<script>window.pwned = 1; document.title = "pwned"; fetch("{evil}/answer-script")</script>\n'
            f'<img src="{evil}/answer-img" onerror="window.pwned = 1; alert(1)">\n'
            '<svg onload="window.pwned = 1; alert(2)"><circle r="5"></circle></svg>\n\n'
            "</div></div></div><script>alert('breakout')</script><div>\n\n"
            "[a javascript link](javascript:alert(3)) [a tabbed one](java&#9;script:alert(3)) "
            "[a data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==) "
            '<a href="data:text/html,<script>alert(4)</script>">a raw data link</a> '
            "<javascript:alert(5)> [vb](vbscript:msgbox(1))\n\n"
            f"![the remote plot]({evil}/answer-markdown-image.png)\n\n"
            "&lt;script&gt;alert(6)&lt;/script&gt; &#60;img src=x onerror=alert(6)&#62;\n\n"
            "Last words before an <!-- unterminated comment that must not hide the rest"),
        "q_xavier_relu": (
            "Xavier keeps the variance for **tanh**; ReLU halves it, so He uses $\\sqrt{6/n_{in}}$.\n\n"
            "```python\nbound = math.sqrt(6.0 / fan_in)\nprint('</pre></div><script>alert(7)</script>')\n```\n\n"
            "<![CDATA[ <script>alert(8)</script> ]]>\n\n"
            f'<iframe src="{evil}/iframe"></iframe><object data="{evil}/object"></object><embed src="{evil}/embed">\n\n'
            f'<style>body {{ display: none }}</style><link rel="stylesheet" href="{evil}/css">'
            f'<meta http-equiv="refresh" content="0; url={evil}/refresh"><base href="{evil}/">\n\n'
            '<p style="position: fixed; top: 0; font-size: 80px">FULL MARKS</p>\n\n'
            "Reversed: abc\u202etxet\u202c and a line\u2028separator."),
        "q_default_init": (
            "PyTorch's default is Kaiming uniform with a = sqrt(5); see "
            "[the docs](https://pytorch.org/docs/stable/nn.init.html).\n\n"
            f'<form action="{evil}/form"><input name="x" autofocus onfocus="alert(10)"></form>\n'
            f'<a href="{evil}/link" onmouseover="alert(11)">hover me</a>'),
    }


def hostile_code(evil: str) -> dict[str, str]:
    """The instructor's solution, each cell carrying HTML payloads in a comment and a string."""
    payload = (f'</pre></div></div><script>window.pwned = 1; alert("code"); fetch("{evil}/code")</script>'
               f'<img src="{evil}/code-img" onerror="alert(12)"> <!-- <![CDATA[ javascript:alert(13)')
    return {part: f"# {payload}\nBANNER = {payload!r}\n# abc\u202e reversed? \u202c\n{code}"
            for part, code in variants(CHAPTER)["correct_math"].items()}


def raising_code(evil: str) -> dict[str, str]:
    """Code whose exceptions quote HTML and terminal escapes: the verdicts repeat those messages."""
    message = (f'<script>window.pwned = 1; alert("verdict")</script><img src="{evil}/verdict-img" onerror="alert(14)">'
               '</pre></div><!-- \x1b[8mconcealed\x1b[0m \x1b]0;retitled\x07 <![CDATA[')
    return {
        "fan_in_and_fan_out": f"def fan_in_and_fan_out(shape):\n    raise ValueError({message!r})\n",
        "xavier_uniform_bound": ("def xavier_uniform_bound(fan_in, fan_out, gain=1.0):\n"
                                 "    raise RuntimeError('<svg onload=alert(15)> "
                                 "<a href=javascript:alert(16)>x</a> &lt;b&gt;')\n"),
        "he_uniform_bound": f"def he_uniform_bound(fan_in, gain=2 ** 0.5):\n    return {message!r}\n",
    }


def with_answers(nb: dict, answers: dict[str, str]) -> dict:
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "markdown" and grade_id in answers:
            cell["source"] = answers[grade_id]
    return nb


def run_grade(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3000)


@pytest.fixture(scope="module")
def evil():
    server = EvilServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def submitted(tmp_path_factory, evil):
    """The batch as handed in: mallory (hostile answers and code), eve (hostile exception messages,
    no answers), a student whose file name is itself a payload, and grace (one mistake, every answer)."""
    folder = tmp_path_factory.mktemp("submissions")
    write(with_answers(fill_in(CHAPTER, hostile_code(evil.url)), hostile_answers(evil.url)), folder / "mallory.ipynb")
    write(fill_in(CHAPTER, raising_code(evil.url)), folder / "eve.ipynb")
    write(fill_in(CHAPTER, variants(CHAPTER)["correct_math"]), folder / f"{HOSTILE_FILE_NAME}.ipynb")
    write(with_answers(fill_in(CHAPTER, variants(CHAPTER)[MISTAKE]), GRACE_ANSWERS), folder / "grace.ipynb")
    return folder


def grade_batch(submitted: Path, out: Path) -> subprocess.CompletedProcess:
    """The instructor's command, the same every time: `python -m autograder grade 04_initialization ...`."""
    result = run_grade(CHAPTER, str(submitted), "--out", str(out), "--jobs", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def graded(tmp_path_factory, submitted):
    """The --out folder of the batch, graded once."""
    out = tmp_path_factory.mktemp("graded")
    result = grade_batch(submitted, out)
    assert "6 written answers await manual grading" in result.stdout, result.stdout  # mallory's 3 and grace's 3
    students = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(students) == 4 and {"mallory", "eve", "grace"} <= set(students), students
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) for s in students), students  # the file name lost its markup
    return out


def read_grades(out: Path) -> dict[str, dict[str, str]]:
    """grades.csv as {student: {column: value}}."""
    with open(out / "grades.csv", newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


# -- watching a page ---------------------------------------------------------------------------

class Watched:
    """A page whose dialogs, script errors and requests are all recorded; only `own` addresses
    (and the evil server, so that it can testify) are let through."""

    def __init__(self, browser, own: tuple[str, ...], evil: EvilServer, width: int = 1200):
        self.dialogs, self.requests, self.errors = [], [], []
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.own, self.evil = own, evil

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if url.startswith(self.own) or url.startswith(self.evil.url):
            route.continue_()  # the evil server must see (and the test report) what gets through
        else:
            route.abort()      # the internet (MathJax's CDN): unreachable here anyway

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(1500)  # late scripts, lazy images, meta refresh
        return self.page

    def close(self):
        self.context.close()


# Every attribute a browser follows or runs, on any element of the page.
_URLS_IN_DOM = """() => Array.from(document.querySelectorAll('*')).flatMap(el =>
    ['href', 'src', 'srcset', 'action', 'formaction', 'data', 'poster', 'xlink:href', 'background']
        .filter(a => el.hasAttribute(a)).map(a => [el.tagName, a, el.getAttribute(a)]))"""
_HANDLERS_IN_ANSWERS = """() => Array.from(document.querySelectorAll('.student-answer, .student-answer *'))
    .flatMap(el => Array.from(el.attributes).map(a => a.name))
    .filter(n => n.startsWith('on') || n === 'style' || n === 'src')"""
_EMBEDDERS = ("img, iframe, object, embed, form, input, svg, math, style, link[href], meta[http-equiv], base, "
              "frame, video, audio")


def assert_inert(watched: Watched, evil: EvilServer, where: str) -> None:
    """Nothing a student wrote ran, fetched, or left a live link in the DOM."""
    page = watched.page
    assert watched.dialogs == [], f"{where}: a dialog fired: {watched.dialogs}"
    assert page.evaluate("window.pwned") is None, f"{where}: a student's script ran ({watched.errors})"
    assert page.title() == TITLE, f"{where}: a student's script retitled the page: {page.title()!r}"
    assert evil.hits == [], f"{where}: the student's server was reached: {evil.hits}"
    elsewhere = [u for u in watched.requests if not u.startswith(watched.own + course_urls())]
    assert elsewhere == [], f"{where}: requests the page itself does not make: {elsewhere}"
    for tag, attribute, value in page.evaluate(_URLS_IN_DOM):
        scheme = re.sub(r"[\x00-\x20]", "", value).lower().split(":", 1)[0]
        assert scheme not in ("javascript", "data", "vbscript"), f"{where}: live <{tag} {attribute}={value!r}>"
        assert evil.url not in value or (tag == "A" and attribute == "href"), f"{where}: <{tag} {attribute}={value!r}>"
    assert page.evaluate(_HANDLERS_IN_ANSWERS) == [], where
    assert page.locator(f".student-answer :is({_EMBEDDERS})").count() == 0, where
    for script in page.locator("script").all():
        assert "pwned" not in (script.text_content() or "") and "alert(" not in (script.text_content() or ""), where


def assert_readable(page, student: str, where: str, shots: Path) -> None:
    """The answers (or the verdicts quoting a student) read as text: what they say, and what they typed."""
    shots.mkdir(parents=True, exist_ok=True)
    # The viewport and single elements only: a whole page (17,000 px) can exceed what Chromium captures.
    page.screenshot(path=str(shots / f"{student}-top.png"))
    text = page.inner_text("body")
    if student == "mallory":
        answers = page.locator(".student-answer")
        assert answers.count() == 3, where
        for i in range(3):  # each answer in its panel: the heading, and the formgrader's score box
            panel = page.locator(".nbgrader_cell:has(.student-answer)").nth(i)
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(shots / f"{student}-answer-{i + 1}.png"))
        code = page.locator(".nbgrader_cell", has_text="BANNER = ").first
        code.scroll_into_view_if_needed()
        code.screenshot(path=str(shots / f"{student}-code.png"))
        assert "Zero weights keep every hidden unit identical, so symmetry is never broken." in text
        assert page.locator(".student-answer strong", has_text="symmetry").count() == 1  # markdown still renders
        assert '<script>window.pwned = 1; document.title = "pwned"' in text  # what they typed, as text
        assert "<svg onload=" in text and "</div></div></div><script>alert('breakout')</script>" in text
        assert "[image not shown: the remote plot, " in text and "/answer-markdown-image.png]" in text
        assert "a javascript link [link removed: javascript:alert(3)]" in text  # where it pointed, as text
        assert "javascript:alert(5) [link removed]" in text
        assert "&lt;script&gt;alert(6)&lt;/script&gt;" in text  # entities as typed
        assert "Last words before an <!-- unterminated comment that must not hide the rest" in text
        assert "Xavier keeps the variance for tanh" in text  # the next answer was not swallowed
        fenced = answers.nth(1).locator("pre").first.inner_text()
        assert "bound = math.sqrt(6.0 / fan_in)\nprint(" in fenced  # the line break inside <pre> survived
        assert "<iframe src=" in text and "FULL MARKS" in text and "[U+202E]" in text
        docs = page.locator("a", has_text="the docs")  # a safe link stays a link, with the rel nh3 adds
        assert docs.get_attribute("href") == "https://pytorch.org/docs/stable/nn.init.html"
        assert docs.get_attribute("rel") == "noopener noreferrer nofollow"
        assert "BANNER = " in text and "</pre></div></div><script>window.pwned" in text  # the code, as typed
    elif student == "eve":
        verdicts = page.locator(".output_error")
        verdicts.first.scroll_into_view_if_needed()
        verdicts.first.screenshot(path=str(shots / f"{student}-verdict.png"))
        quoted = "\n".join(verdicts.all_inner_texts())
        assert '<script>window.pwned = 1; alert("verdict")</script>' in quoted  # the verdict quotes it as text
        assert "<svg onload=alert(15)>" in quoted
        assert "YOUR ANSWER HERE" in text
    else:
        assert "checks passed" in text


# -- the tests ---------------------------------------------------------------------------------

def test_feedback_pages_show_what_students_wrote_inertly(graded, browser, evil, tmp_path):
    for html in sorted((graded / "feedback").glob(f"*/{CHAPTER}.html")):
        student = html.parent.name
        watched = Watched(browser, (html.as_uri(),), evil)
        try:
            watched.open(html.as_uri())
            assert_inert(watched, evil, f"feedback of {student}")
            assert_readable(watched.page, student, f"feedback of {student}", tmp_path)
        finally:
            watched.close()


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """`make formgrader DIR=...` on the batch, headless: the Server, with the URL it printed."""
    with course_server("formgrader", tmp_path_factory.mktemp("formgrader"), DIR=str(graded)) as server:
        yield server


def origin(url: str) -> str:
    """`http://host:port` of a URL: the formgrader's login cookie belongs to the host the printed URL names."""
    return re.match(r"https?://[^/?#]+", url).group(0)


def test_the_formgrader_shows_what_students_wrote_inertly(graded, formgrader, browser, evil, tmp_path):
    from nbgrader.api import Gradebook

    base = origin(formgrader.url)
    with Gradebook(f"sqlite:///{graded / 'nbgrader' / 'gradebook.db'}") as gradebook:
        ids = {s.student.id: s.id for s in gradebook.notebook_submissions(CHAPTER, CHAPTER)}
    assert sorted(ids) == sorted(p.name for p in (graded / "feedback").iterdir())
    watched = Watched(browser, (base,), evil)
    try:
        watched.open(formgrader.url)  # the URL `make formgrader` printed: logs in (a cookie)
        # The list of submissions names each student (ids come from file names).
        watched.open(f"{base}/formgrader/gradebook/{CHAPTER}/{CHAPTER}")
        watched.page.locator("td", has_text="Loading, please wait").wait_for(state="detached", timeout=60_000)
        watched.page.get_by_text("Show All Names").click()
        watched.page.screenshot(path=str(tmp_path / "formgrader-submissions.png"))
        listed = watched.page.inner_text("body")
        assert all(student in listed for student in ids), listed
        assert watched.dialogs == [] and evil.hits == []
        for student, submission in sorted(ids.items()):
            watched.open(f"{base}/formgrader/submissions/{submission}/")
            assert "Student's answer" in watched.page.inner_text("body"), f"not a formgrade page for {student}"
            assert_inert(watched, evil, f"formgrader page of {student}")
            assert_readable(watched.page, f"{student}", f"formgrader page of {student}", tmp_path / "formgrader")
    finally:
        watched.close()


# -- what a diagnosis and an unmarked answer look like -----------------------------------------

# Where a diagnosis's text lies: the box, its scrolling, and the bounding boxes of its lines.
_LAYOUT = """pre => {
    const range = document.createRange();
    range.selectNodeContents(pre);
    const lines = Array.from(range.getClientRects()).filter(r => r.width > 0);
    const area = pre.closest('.output_subarea');
    return {pre: [pre.scrollWidth, pre.clientWidth], area: [area.scrollWidth, area.clientWidth],
            right: Math.max(pre.getBoundingClientRect().right, ...lines.map(r => r.right)),
            left: Math.min(pre.getBoundingClientRect().left, ...lines.map(r => r.left)),
            lines: new Set(lines.map(r => Math.round(r.top))).size,
            page: document.documentElement.scrollWidth};
}"""


def failed_diagnoses(graded: Path, student: str) -> list[str]:
    """The messages of a student's failed checks, as the grader recorded them (results/<student>.json)."""
    verdicts = json.loads((graded / "results" / f"{student}.json").read_text())["verdicts"]
    return [v["message"] for v in verdicts.values() if not v["passed"]]


def points(value: float) -> str:
    """"1 point", "2 points", "0.5 points": as the feedback page words them."""
    return f"{value:g} point" + ("" if value == 1 else "s")


@pytest.mark.parametrize("width", [1000, 1200])
def test_a_diagnosis_is_visible_whole_and_unmarked_answers_await_grading(graded, browser, evil, tmp_path, width):
    html = graded / "feedback" / "grace" / f"{CHAPTER}.html"
    diagnoses = failed_diagnoses(graded, "grace")
    assert len(diagnoses) == 2 and all(len(d) > 150 for d in diagnoses), diagnoses  # each longer than a line
    row = read_grades(graded)["grace"]
    watched = Watched(browser, (html.as_uri(),), evil, width=width)
    steps = Steps(watched.page, tmp_path / "steps")
    try:
        with steps.step("feedback-opened"):
            page = watched.open(html.as_uri())
            assert_inert(watched, evil, "feedback of grace")
            assert "BEGIN HIDDEN TESTS" not in page.content()  # the verdicts only, never the hidden code
        for i, diagnosis in enumerate(diagnoses, 1):
            with steps.step(f"diagnosis-{i}"):
                pre = page.locator(".output_error pre", has_text=diagnosis[:60])
                pre.scroll_into_view_if_needed()
                assert f"AssertionError: {diagnosis}" in pre.inner_text()  # all of it, as the grader wrote it
                layout = pre.evaluate(_LAYOUT)
                where = f"diagnosis {i} at {width} px: {layout}"
                assert layout["pre"][0] <= layout["pre"][1] and layout["area"][0] <= layout["area"][1], where
                assert 0 <= layout["left"] and layout["right"] <= width and layout["page"] <= width, where
                assert layout["lines"] >= 2, where  # it wrapped (one line would have run off the page)
                tail = diagnosis[-40:]  # the end of the diagnosis, where it says what the bound should be
                assert page.get_by_text(tail, exact=False).first.is_visible(), where
        with steps.step("answers-await-grading"):
            page.locator(".panel-heading h4").first.scroll_into_view_if_needed()
            awaiting = sum(a.points for a in answer_cells(CHAPTER))
            header = page.locator(".panel-heading h4").first.inner_text()
            assert header == (f"{CHAPTER} (Score: {row['score']} / {row['max_score']}, "
                              f"{points(awaiting)} of written answers await grading)"), header
            for answer in answer_cells(CHAPTER):
                heading = page.locator(f'.nbgrader_cell:has(a[name="{answer.grade_id}"]) .panel-heading').inner_text()
                assert f"Awaiting grading ({points(answer.points)})" in heading and "Score" not in heading, heading
                assert row[answer.grade_id] == "", row  # grades.csv leaves it blank: the same story
    finally:
        watched.close()


# -- the instructor's round trip: a score typed in the formgrader reaches grades.csv ------------
# (Last in this file: it changes the batch the tests above read.)

# The formgrade page has fetched the grades and bound each score box to its grade (formgrade.js).
GRADES_LOADED = "() => typeof formgrader !== 'undefined' && formgrader.grades && formgrader.grades.loaded"


def open_formgrade_page(page, steps: Steps, url: str, student: str) -> None:
    """From the URL `make formgrader` prints to the student's formgrade page, by the formgrader's own links."""
    with steps.step("formgrader-opened"):  # each screenshot shows the page the step arrived at
        page.goto(url, wait_until="load")  # logs in (a cookie), then redirects
    with steps.step("manual-grading"):
        page.get_by_role("link", name="Manual Grading").click()
        page.locator(f'table a[href$="/gradebook/{CHAPTER}"]').wait_for()
    with steps.step("assignment"):
        page.locator(f'table a[href$="/gradebook/{CHAPTER}"]').click()
        page.locator(f'table a[href$="/gradebook/{CHAPTER}/{CHAPTER}"]').wait_for()
    with steps.step("submissions-named"):
        page.locator(f'table a[href$="/gradebook/{CHAPTER}/{CHAPTER}"]').click()  # the assignment's notebook
        page.wait_for_url(f"**/gradebook/{CHAPTER}/{CHAPTER}")
        page.locator('table a[href*="/formgrader/submissions/"]').first.wait_for(timeout=60_000)  # rows loaded
        page.get_by_text("Show All Names").click()
    with steps.step("formgrade-page"):
        page.get_by_role("link", name=student, exact=True).click()
        page.wait_for_url("**/formgrader/submissions/**")
        page.wait_for_function(GRADES_LOADED, timeout=60_000)


def type_score(page, grade_id: str, typed: str) -> None:
    """Type a score into a written answer's score box and move on (Tab), as an instructor does; wait for the save."""
    box = page.locator(f"input.score#{grade_id}")
    box.scroll_into_view_if_needed()
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        box.click()
        box.press_sequentially(typed)
        box.press("Tab")  # the box saves on change
    assert saved.value.ok, saved.value.status
    assert json.loads(saved.value.text())["manual_score"] == float(typed)
    page.locator(".score-saved.glyphicon-ok").first.wait_for(state="attached")


def test_the_instructor_grades_an_answer_in_the_formgrader_and_grade_picks_it_up(submitted, graded, formgrader,
                                                                                  browser, evil, tmp_path):
    grade_id, typed = INSTRUCTOR_SCORE
    points_of = {a.grade_id: a.points for a in answer_cells(CHAPTER)}
    before = read_grades(graded)["grace"]
    assert before[grade_id] == ""
    watched = Watched(browser, (origin(formgrader.url),), evil)
    steps = Steps(watched.page, tmp_path / "steps")
    try:
        open_formgrade_page(watched.page, steps, formgrader.url, "grace")
        with steps.step("score-typed"):
            type_score(watched.page, grade_id, typed)
        assert watched.dialogs == [] and evil.hits == []
        with steps.step("grade-run-again"):
            again = grade_batch(submitted, graded)
            assert "5 written answers await manual grading" in again.stdout, again.stdout
            watched.page.reload(wait_until="load")  # the formgrader still shows the score it saved
            watched.page.wait_for_function(GRADES_LOADED, timeout=60_000)
            assert watched.page.locator(f"input.score#{grade_id}").input_value() == typed
        after = read_grades(graded)["grace"]
        assert after[grade_id] == typed, after
        assert float(after["score"]) == float(before["score"]) + float(typed), (before, after)
    finally:
        watched.close()
    html = graded / "feedback" / "grace" / f"{CHAPTER}.html"
    watched = Watched(browser, (html.as_uri(),), evil)
    steps.page = watched.page
    try:
        with steps.step("feedback-regenerated"):
            page = watched.open(html.as_uri())
            assert_inert(watched, evil, "regenerated feedback of grace")
            heading = page.locator(f'.nbgrader_cell:has(a[name="{grade_id}"]) .panel-heading')
            heading.scroll_into_view_if_needed()
            assert f"Score: {typed} / {points_of[grade_id]:g}" in heading.inner_text()
            still = sum(p for g, p in points_of.items() if g != grade_id)
            header = page.locator(".panel-heading h4").first.inner_text()
            assert header == (f"{CHAPTER} (Score: {after['score']} / {after['max_score']}, "
                              f"{points(still)} of written answers await grading)"), header
    finally:
        watched.close()
