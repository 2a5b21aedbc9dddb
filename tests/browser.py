"""What the browser tests share: Debian's Chromium through Playwright, a course server, screenshots.

Playwright's own browser download is not reachable here, so it drives the system Chromium
(`apt-get install chromium`; `.ci/run` installs it). `course_server` starts `make lab` or
`make formgrader` exactly as a user types it, on a free port, and yields the address it prints.
`Steps` names each step of a test and keeps a screenshot of it; a failing step adds the folder of
screenshots to the error, so a red test says where to look.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's Chromium (/usr/bin/chromium) is not "
                                                                   "installed: `apt-get install -y chromium`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def chromium():
    """A headless Chromium (the system one) for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Server:
    url: str    # what the server printed, token included
    base: str   # the printed address up to the port: the login cookie belongs to its host
    token: str
    log: Path


def user_environment(tmp_path: Path, **extra: str) -> dict:
    """The environment a user's shell would give `make`: no display, no test-only settings."""
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"), **extra)
    for name in ("DISPLAY", "MPLBACKEND", "JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN"):
        if name not in extra:
            env.pop(name, None)
    return env


@contextlib.contextmanager
def course_server(target: str, tmp_path: Path, cwd: Path = ROOT, env: dict | None = None, timeout: float = 120,
                  **make_vars: str):
    """`make <target> PORT=<free> NAME=value...` in `cwd`; yields the Server once Jupyter says it is running.

    The Server's address is the first one the command printed (the port it really uses).

    `env` defaults to `user_environment`. `-o .venv/.installed`: take the virtualenv as it is (a test
    must not reinstall a shared one).
    """
    env = env or user_environment(tmp_path)
    port = int(make_vars.pop("PORT", 0)) or free_port()
    log_path = tmp_path / f"{target}-{port}.log"
    log = open(log_path, "w+")
    args = ["make", "--no-print-directory", "-o", ".venv/.installed", target, f"PORT={port}",
            *(f"{name}={value}" for name, value in make_vars.items())]
    server = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, deadline = None, time.monotonic() + timeout
        while time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
            log.seek(0)
            text = log.read()
            match = re.search(r"((http://(?:localhost|127\.0\.0\.1):\d+)/\S*\?token=(\w+))", text)  # the first printed
            if match and "is running at" in text:
                url, base = match.group(1), match.group(2)
                break
        log.seek(0)
        assert url, f"`make {target}` printed no address with a token, or never started:\n{log.read()}"
        answering(server, f"{base}/api/status?token={url.rsplit('token=', 1)[1]}", deadline, log)
        yield Server(url=url, base=base, token=url.rsplit("token=", 1)[1], log=log_path)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def answering(server: subprocess.Popen, status_url: str, deadline: float, log) -> None:
    """Wait until the server answers HTTP; fail with its exit status and log if it dies or never does."""
    problem = None
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(status_url, timeout=10) as response:
                if response.status == 200:
                    return
        except OSError as exc:
            problem = exc
        time.sleep(0.5)
    log.seek(0)
    state = f"exited with status {server.returncode}" if server.poll() is not None else "still running"
    raise AssertionError(f"the server printed its address but does not answer ({problem}); it {state}:\n{log.read()}")


class Steps:
    """Numbered steps of a browser test, each leaving a screenshot in `folder`."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> Path:
        """Screenshot the viewport now, as NN-name.png."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name)}.png"
        self.page.screenshot(path=str(path))
        return path

    @contextlib.contextmanager
    def step(self, name: str):
        """Run one step; screenshot it at its end, or at its failure with the folder named in the error."""
        try:
            yield
        except BaseException as failure:
            with contextlib.suppress(Exception):
                self.shot(f"{name}-FAILED")
            failure.add_note(f"step {name!r} failed; screenshots of every step: {self.folder}")
            raise
        self.shot(name)
