"""Killing a listed process never reaches another one that got its PID since (autograder.processes).

A PID read earlier may name a different process by the time the signal goes out: the grader
records each process with its start time and kills through a pidfd opened while the start time
still matches. Reusing a PID on demand is impractical, so the tests give the functions a record
whose start time no longer matches (as a reused PID's would not) and check that the real process
behind that PID survives, and that the right record kills it. The same for cgroups
(`fair_share.FairShare.kill`) and for bubblewrap's process group (`worker_process.ColdWorker.reap`).
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from autograder import processes, sandbox
from autograder.fair_share import FairShare
from autograder.processes import Listed


@pytest.fixture
def sleeper():
    """A real `sleep` process of this test's, killed at the end whatever happened."""
    started = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(["sleep", "60"])
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _alive(process: subprocess.Popen, seconds: float = 0.3) -> bool:
    """True if `process` is still running after `seconds` (time for a signal to land)."""
    time.sleep(seconds)
    return process.poll() is None


def _stale(record: Listed) -> Listed:
    """The record a listing would have kept for an earlier process with the same PID."""
    return Listed(record.pid, record.start - 1)


def test_a_record_whose_start_time_no_longer_matches_is_not_signalled(sleeper):
    process = sleeper()
    record = processes.of_child(process.pid)
    assert record == processes.listed(process.pid) and processes.is_running(record)
    processes.kill([_stale(record)], seconds=0.5)
    processes.kill([Listed(record.pid, record.start + 1)], seconds=0.5)
    assert _alive(process), "a process was killed under a record that was not its own"
    assert processes.hold(_stale(record)) is None
    assert processes.kill([record], seconds=5)
    assert process.wait(timeout=5) == -signal.SIGKILL


def test_killing_waits_on_the_pidfd_and_a_zombie_counts_as_ended(sleeper):
    process = sleeper()
    record = processes.of_child(process.pid)
    started = time.monotonic()
    assert processes.kill([record], seconds=5)          # returns once it is dead, before anyone reaps it
    assert time.monotonic() - started < 2
    assert processes.listed(process.pid) == record      # still there, a zombie: its PID not yet free
    assert process.wait(timeout=5) == -signal.SIGKILL


def test_a_held_pidfd_keeps_naming_its_process_after_it_is_reaped(sleeper):
    process = sleeper()
    held = processes.hold(processes.of_child(process.pid))
    assert held is not None and held.fd is not None and not held.ended()
    process.kill()
    process.wait()                                      # reaped: the PID is free for anyone now
    assert held.ended()
    held.send(signal.SIGKILL)                           # reaches no one, raises nothing
    held.close()


def test_without_pidfds_the_record_is_checked_before_the_signal(sleeper, monkeypatch):
    def no_pidfds(pid):
        raise OSError(errno.ENOSYS, "pidfd_open is not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfds)
    process = sleeper()
    record = processes.of_child(process.pid)
    processes.kill([_stale(record)], seconds=0.5)
    assert _alive(process)
    assert processes.kill([record], seconds=5)
    assert process.wait(timeout=5) == -signal.SIGKILL


def test_descendants_are_found_only_below_the_listed_process(sleeper):
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys\n"
                               "child = subprocess.Popen(['sleep', '60'])\nprint(child.pid, flush=True)\nchild.wait()\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        root = processes.of_child(parent.pid)
        assert [r.pid for r in processes.descendants(root)] == [child_pid]
        assert processes.descendants(_stale(root)) == []  # a PID that now names another process has no say
        cpu, _ = processes.usage([_stale(root)])
        assert cpu == 0.0                                 # nor does its usage count
        assert processes.kill([root, *processes.descendants(root)], seconds=5)
        assert processes.listed(child_pid) is None or processes.listed(child_pid).start != root.start
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def _fake_cgroup(folder, pids, kill_file: bool):
    folder.mkdir()
    (folder / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in pids))
    if kill_file:
        (folder / "cgroup.kill").write_text("")
    return FairShare([folder])


def test_a_cgroup_member_is_killed_through_a_pidfd(sleeper, tmp_path):
    process = sleeper()
    share = _fake_cgroup(tmp_path / "v1", [process.pid], kill_file=False)
    share.kill()
    assert process.wait(timeout=5) == -signal.SIGKILL
    assert not (tmp_path / "v1" / "cgroup.kill").exists()  # never created where the kernel has none


def test_a_pid_that_left_the_cgroup_before_the_signal_is_not_signalled(sleeper, tmp_path, monkeypatch):
    process = sleeper()
    share = _fake_cgroup(tmp_path / "v1", [process.pid], kill_file=False)
    listings = iter([[process.pid], []])  # listed, then gone from the cgroup (its PID another's now)
    monkeypatch.setattr(share, "members", lambda: next(listings))
    share.kill()
    assert _alive(process)


def test_cgroup_kill_is_preferred_where_it_exists(sleeper, tmp_path):
    process = sleeper()
    share = _fake_cgroup(tmp_path / "v2", [process.pid], kill_file=True)
    share.kill()
    assert (tmp_path / "v2" / "cgroup.kill").read_text() == "1"
    assert _alive(process)  # the kernel kills through cgroup.kill; no PID is signalled


@pytest.mark.slow
def test_bubblewraps_process_group_is_not_signalled_once_it_was_waited_for(monkeypatch):
    from autograder.worker_process import ColdWorker

    worker = ColdWorker("none", sandbox.Limits(), [])
    worker.popen.kill()
    worker.popen.wait()  # its PID, and the group number, are free for anyone now
    sent = []
    monkeypatch.setattr(os, "killpg", lambda *args: sent.append(args))
    worker.reap()
    worker.release()
    os.close(worker.to_worker)
    assert sent == []
