"""Start real child processes for tests and wait for the line that says they are ready."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from workers.dev.procs import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]


class ProcessStartError(RuntimeError):
    pass


_EOF = None


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None], name: str) -> None:
    # Keep draining after readiness: a child blocked on a full pipe looks like a hang.
    # Lines go to stderr so pytest shows them next to a failing test.
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
        sys.stderr.write(f"[{name}] {line}")
    lines.put(_EOF)


def start_process(
    cmd: Sequence[str],
    ready_regex: str,
    timeout: float = 20.0,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = REPO_ROOT,
    name: str | None = None,
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    """Run ``cmd`` and return it with the match of the first output line matching ``ready_regex``.

    stdout and stderr are merged. If the process exits, or prints no matching
    line within ``timeout`` seconds, it is stopped and the error carries its output.
    """
    pattern = re.compile(ready_regex)
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        # Its own process group, so a last-resort kill also reaches its children,
        # and a SIGTERM if pytest itself dies, so no simulator outlives the run.
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    label = name or " ".join(cmd[1:3] if len(cmd) > 1 else cmd)
    threading.Thread(target=_pump, args=(proc, lines, label), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
        except queue.Empty:
            problem = f"printed nothing matching /{ready_regex}/ within {timeout}s"
            break
        if line is _EOF:
            problem = f"exited ({proc.wait(timeout=timeout)}) before printing /{ready_regex}/"
            break
        seen.append(line)
        match = pattern.search(line)
        if match:
            return proc, match
    stop_process(proc)
    output = "".join(seen[-50:])
    raise ProcessStartError(f"{' '.join(cmd)} {problem}; output:\n{output}")


def stop_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to ``timeout``, then SIGKILL the process group; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    return proc.returncode


@contextlib.contextmanager
def running_process(
    cmd: Sequence[str],
    ready_regex: str,
    timeout: float = 20.0,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = REPO_ROOT,
) -> Iterator[tuple[subprocess.Popen[str], re.Match[str]]]:
    """``start_process`` as a context manager that always stops the process."""
    proc, match = start_process(cmd, ready_regex, timeout, env=env, cwd=cwd)
    try:
        yield proc, match
    finally:
        stop_process(proc)
