"""Small helpers for the processes we spawn: free ports and dying with the parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive `sig` when its parent dies.

    Linux delivers the signal when the *thread* that forked exits, so spawn from a
    long-lived thread (the event loop's), never from an executor thread.
    Returns None where prctl is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Resolve libc in the parent: loading a library between fork and exec is unsafe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        # The parent may have died before prctl took effect.
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def kill_process_group(pgid: int) -> None:
    """SIGKILL a whole process group; fine if it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """The passwd entry of system user `name`, created (no home, no login) if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"could not create system user {name!r}: {result.stderr.strip()}"
        ) from None
