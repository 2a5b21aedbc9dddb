"""What a student sees in a real browser (Debian's Chromium) against a real `make lab`, in fast mode.

The lab serves a copy of the course (the working tree, sharing the virtualenv), so running and
saving notebooks never touches this checkout. The server gets the environment a student's shell
would give it: no matplotlib backend, no Jupyter settings; only DLCOURSE_FAST=1 for speed.
Each step leaves a screenshot in the test's tmp_path (named in the error when a step fails).
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browser import ROOT, Steps, chromium, course_server, needs_chromium, user_environment
from checkout import copy_course
from sample_notebooks import variants

CHAPTER = "02_dropout"
NOTEBOOK = f"notebooks/{CHAPTER}/{CHAPTER}.ipynb"
RUN_ALL_TIMEOUT = 600  # seconds; fast mode takes about 30 s here

pytestmark = [pytest.mark.lab, needs_chromium]


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """The working tree's files (tracked and new, not ignored) in a folder of their own, with .venv linked."""
    copy = copy_course(tmp_path_factory.mktemp("course"))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


@pytest.fixture(scope="module")
def lab(course_copy, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    with course_server("lab", folder, cwd=course_copy, env=user_environment(folder, DLCOURSE_FAST="1")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


def open_notebook(browser, lab, path: str):
    """A new browser page, logged in by the printed URL, showing notebook `path` with its kernel idle."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(lab.url)  # the token in the printed URL logs the browser in (a cookie)
    page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
    page.goto(f"{lab.base}/lab/tree/{path}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell", timeout=60_000)
    wait_until_idle(page, timeout=120)
    return page


def execution_status(page) -> str | None:
    return page.evaluate("() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
                         ".jp-Notebook-ExecutionIndicator')?.getAttribute('data-status')")


def prompts(page) -> list[str]:
    """The input prompt of every code cell, in order: '[12]:', '[*]:' (running or queued), '[ ]:'."""
    return page.evaluate("() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                         ".jp-CodeCell .jp-InputArea-prompt')).map(e => e.textContent.trim())")


def wait_until_idle(page, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while execution_status(page) != "idle" or any(p == "[*]:" for p in prompts(page)):
        assert time.monotonic() < deadline, f"the kernel is still busy after {timeout} s: {prompts(page)}"
        page.wait_for_timeout(500)


def menu(page, top: str, item: str, tries: int = 3) -> None:
    """Click `item` in the menu bar's `top` menu, as a student would: again if the menu did not open.

    A click on the bar can go unanswered while the page is busy (CI once timed out waiting for
    "Run All Cells" right after the Nbgrader menu was closed with Escape).
    """
    entry = page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True)
    for attempt in range(tries):
        page.locator(".lm-MenuBar-itemLabel").get_by_text(top, exact=True).click()
        try:
            entry.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
    entry.click()


def cell(page, grade_id_text: str):
    """The code cell whose source contains `grade_id_text`."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                        has=page.locator(".cm-content", has_text=grade_id_text))


def text_of(locator) -> str:
    """textContent, which (unlike innerText) JupyterLab's off-screen cells still have."""
    return "\n".join(locator.evaluate_all("els => els.map(e => e.textContent)"))


def test_run_all_reaches_the_end_with_figures_bars_widgets_and_self_check_messages(lab, browser, tmp_path):
    page = open_notebook(browser, lab, NOTEBOOK)
    steps = Steps(page, tmp_path / "screenshots")

    with steps.step("student-sees-no-instructor-tools"):
        page.locator(".lm-MenuBar-itemLabel").get_by_text("Nbgrader", exact=True).click()
        items = [t.strip() for t in page.locator(".lm-Menu-itemLabel").all_text_contents() if t.strip()]
        assert items == ["Assignment List", "Course List"], items
        page.keyboard.press("Escape")
        tabs = page.evaluate("() => Array.from(document.querySelectorAll('.lm-TabBar-tab'))"
                             ".map(e => (e.getAttribute('title') || '') + ' ' + e.textContent)")
        assert not [t for t in tabs if "Create Assignment" in t or "Formgrader" in t], tabs
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{lab.base}/formgrader?token={lab.token}", timeout=30)
        assert missing.value.code == 404

    with steps.step("run-all"):
        started = time.monotonic()
        menu(page, "Run", "Run All Cells")
        page.wait_for_timeout(2000)
        wait_until_idle(page, timeout=RUN_ALL_TIMEOUT)
        print(f"Run All in the browser: {time.monotonic() - started:.0f} s")
        ran = prompts(page)
        assert ran and all(p.startswith("[") and p[1:-2].isdigit() for p in ran), f"cells that did not run: {ran}"

    with steps.step("self-check-message-and-later-cells"):
        check = cell(page, 'run_checks("dropout_forward", globals())')
        check.scroll_into_view_if_needed()
        message = text_of(check.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"))
        assert message.startswith("Self-check failed dropout_forward: `dropout_forward` is not implemented yet"), message
        assert "Traceback" not in message and "autograder" not in message, message  # one clear message
        last = cell(page, "check_all(")
        last.scroll_into_view_if_needed()
        summary = text_of(last.locator(".jp-OutputArea-output"))
        assert "3 of 3 parts fail their visible checks" in summary and "True" not in summary, summary

    with steps.step("figures-and-progress-bars"):
        images = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedImage img")
        assert images.count() >= 5, images.count()
        images.first.scroll_into_view_if_needed()
        assert images.first.evaluate("img => img.complete && img.naturalWidth > 100"), "a figure did not load"
        bars = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-hprogress")
        assert bars.count() >= 3, "tqdm's bars are not rendered as widgets"
        styles = bars.locator(".progress-bar").evaluate_all("els => els.map(e => e.className)")
        assert all("progress-bar-success" in s for s in styles), styles  # every bar finished (none red)
        bars.first.scroll_into_view_if_needed()

    with steps.step("move-the-slider"):
        explorer = cell(page, "explore(draw_rate")
        slider = explorer.locator(".widget-slider")
        slider.scroll_into_view_if_needed()
        before = explorer.locator(".jp-RenderedImage img").evaluate_all("els => els.map(e => e.src)")
        assert len(before) == 1, "the static figure of the default rate should be drawn first"
        explorer.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowRight")
        redrawn = explorer.locator(".widget-output .jp-RenderedImage img")
        redrawn.first.wait_for(timeout=60_000)
        redrawn.first.scroll_into_view_if_needed()
        first = redrawn.first.get_attribute("src")
        assert first not in before, "moving the slider did not draw a new figure"
        page.keyboard.press("ArrowLeft")  # and back: the figure below the controls is replaced
        page.wait_for_function(
            """([cell, old]) => Array.from(cell.querySelectorAll('.widget-output .jp-RenderedImage img'))
                                     .some(img => img.src !== old && img.complete)""",
            arg=[explorer.element_handle(), first], timeout=60_000)
    page.context.close()


def test_a_correct_part_typed_in_the_editor_passes_its_self_check(lab, browser, tmp_path):
    page = open_notebook(browser, lab, NOTEBOOK)
    steps = Steps(page, tmp_path / "screenshots")
    code = variants(CHAPTER)["correct_bool_mask"]["dropout_forward"]

    with steps.step("type-the-solution"):
        solution = cell(page, "def dropout_forward(")
        solution.scroll_into_view_if_needed()
        solution.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(code)  # as pasted: no auto-indent or closing brackets added
        typed = text_of(solution.locator(".cm-content"))
        assert "def dropout_forward(" in typed and "raise NotImplementedError" not in typed, typed

    with steps.step("run-it-and-its-self-check"):
        page.keyboard.press("Shift+Enter")  # runs the solution cell, selects the self-check below it
        page.keyboard.press("Shift+Enter")  # runs the self-check
        page.wait_for_timeout(1000)
        wait_until_idle(page, timeout=120)
        check = cell(page, 'run_checks("dropout_forward", globals())')
        check.scroll_into_view_if_needed()
        output = text_of(check.locator(".jp-OutputArea-output"))
        assert output.strip() == "dropout_forward: all visible checks passed", output
    page.context.close()
