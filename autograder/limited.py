"""Running one of the grader's own helper programs under a memory and a time limit, measuring its peak.

The grader hands untrusted content (a notebook to parse, feedback to render) only to child
processes started here: each gets an address-space limit, a CPU-time limit and a wall-clock
limit, and the peak resident memory it reached is reported, so the grader can say how much it
used whatever the submissions held.
"""
from __future__ import annotations

import os
import resource
import subprocess
import threading
from dataclasses import dataclass


@dataclass
class Finished:
    returncode: int | None   # None: killed at the time limit
    stdout: bytes
    stderr: bytes
    peak_mb: int             # the child's peak resident memory
    cpu_seconds: float = 0.0  # the child's CPU time (user + system, its own children included)


def run(command: list[str], memory_bytes: int, seconds: float, input: bytes = b"", cwd=None, env=None,
        output_limit: int = 64 * 1024**2) -> Finished:
    """Run `command` with at most `memory_bytes` of address space for at most `seconds`.

    Output beyond `output_limit` bytes per stream is dropped (the child is not trusted to be short).
    """
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        cpu = int(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=cwd, env=env, preexec_fn=limit)
    streams = {"stdout": bytearray(), "stderr": bytearray()}

    def drain(name: str, stream) -> None:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            if len(streams[name]) < output_limit:
                streams[name] += chunk[: output_limit - len(streams[name])]

    readers = [threading.Thread(target=drain, args=(name, getattr(child, name)), daemon=True) for name in streams]
    for reader in readers:
        reader.start()
    try:
        child.stdin.write(input)
        child.stdin.close()
    except BrokenPipeError:
        pass
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        child.kill()

    timer = threading.Timer(seconds, stop)
    timer.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    return Finished(None if timed_out.is_set() else child.returncode, bytes(streams["stdout"]), bytes(streams["stderr"]),
                    round(usage.ru_maxrss / 1024), round(usage.ru_utime + usage.ru_stime, 3))
