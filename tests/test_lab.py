"""`make lab` starts a real JupyterLab that serves the course, headless, and prints its URL with a token."""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from notebook_runner import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.lab
def test_make_lab_serves_the_course_headless(tmp_path):
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    env.pop("DISPLAY", None)
    log = open(tmp_path / "lab.log", "w+")
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
            log.seek(0)
            match = re.search(rf"(http://(?:localhost|127\.0\.0\.1):{port}/lab[^\s]*\?token=\w+)", log.read())
            url = match.group(1) if match else None
        log.seek(0)
        assert url, f"no URL with a token was printed:\n{log.read()}"
        token = url.rsplit("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as response:
            assert response.status == 200
            assert "JupyterLab" in response.read().decode()
        request = urllib.request.Request(f"{base}/api/contents/notebooks/00_setup", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            names = [item["name"] for item in __import__("json").loads(response.read())["content"]]
        assert "00_setup.ipynb" in names
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
