"""`make lab` starts a real JupyterLab on the course, headless, and prints the address it really serves.

What a student sees in the browser is tested in test_lab_browser.py; here, the server itself: one
address with its token printed first, the next free port when the one asked for is taken, no pip
noise on the way, and none of nbgrader's instructor tools.
"""
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from browser import ROOT, course_server
from notebook_runner import ROOT as RUNNER_ROOT

assert ROOT == RUNNER_ROOT


def get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.lab
def test_make_lab_serves_the_course_headless_without_instructor_tools(tmp_path):
    with course_server("lab", tmp_path) as server:
        text = server.log.read_text()
        first = next(line for line in text.splitlines() if line.strip())
        assert first.startswith("The course opens at ") and server.url in first, first  # the address comes first
        status, page = get(f"{server.base}/lab", server.token)
        assert status == 200 and "JupyterLab" in page
        status, listing = get(f"{server.base}/api/contents/notebooks/00_setup", server.token)
        assert "00_setup.ipynb" in [item["name"] for item in json.loads(listing)["content"]]
        assert get(f"{server.base}/formgrader", server.token)[0] == 404  # the instructor's side is not served
        disabled = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                        page, re.S).group(1))["disabledExtensions"]
        assert {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader"} <= set(disabled)


@pytest.mark.lab
def test_a_taken_port_moves_the_lab_and_the_printed_address_says_where(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with course_server("lab", tmp_path, PORT=str(taken)) as server:
            printed = re.search(r"The course opens at (\S+) \(port (\d+) is taken\)", server.log.read_text())
            assert printed and int(printed.group(2)) == taken, server.log.read_text()[:2000]
            port = int(printed.group(1).split(":")[2].split("/")[0])
            assert port != taken and get(f"http://localhost:{port}/lab", server.token)[0] == 200


def fake_python(folder, exit_code: int):
    """A stand-in for the virtualenv's python whose `pip install` prints 400 lines, then exits."""
    bin_dir = folder / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "python"
    script.write_text(f"#!/bin/sh\nfor i in $(seq 400); do echo \"Requirement already satisfied: package$i\"; done\n"
                      f"exit {exit_code}\n")
    script.chmod(0o755)
    return folder / "venv"


@pytest.mark.parametrize("exit_code", [0, 1])
def test_installing_the_virtualenv_prints_one_line_and_keeps_pip_in_a_log(tmp_path, exit_code):
    venv = fake_python(tmp_path, exit_code)
    result = subprocess.run(["make", "--no-print-directory", f"VENV={venv}", "venv"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    output = (result.stdout + result.stderr).splitlines()
    log = venv / "install.log"
    assert log.read_text().count("Requirement already satisfied") >= 400  # pip's words kept, in the log
    if exit_code == 0:
        assert result.returncode == 0 and (venv / ".installed").is_file()
        assert output == [f"Installing the course's packages into {venv}: a few minutes the first time "
                          f"(log: {venv}/install.log)", f"{venv} is ready."], output
    else:  # a failure shows pip's last words and where the rest is
        assert result.returncode != 0 and not (venv / ".installed").exists()
        assert len([line for line in output if "Requirement already satisfied" in line]) == 25
        assert f"pip failed: the whole log is in {venv}/install.log" in output
