"""Small helpers for the processes we spawn: free ports, dying with the parent, and
what an unprivileged system user can reach."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now.

    SO_REUSEADDR, as servers set it: a connection of a killed child lingering in
    TIME_WAIT must not count as taken, only a live socket on the port does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def reachable_by(path: Path, user: pwd.struct_passwd, need: int = os.X_OK) -> bool:
    """Whether `user` can use `path` with the `need` bits (os.R_OK | W_OK | X_OK).

    Reads the mode bits of the resolved path and each of its ancestors (search
    permission) the way the kernel does: the owner's bits if the user owns it, else
    the group's if it is the user's primary group (our children run without
    supplementary groups), else everyone's. An ACL that grants more is not seen,
    so the answer errs on "no", which only costs a copy. Meant for root, who can
    stat every path (a path the caller cannot stat counts as unreachable).
    """
    target = Path(path).resolve()
    for directory in reversed(target.parents):
        if not _allowed(directory, user, os.X_OK):
            return False
    return _allowed(target, user, need)


def _allowed(path: Path, user: pwd.struct_passwd, need: int) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    if info.st_uid == user.pw_uid:
        shift = 6
    elif info.st_gid == user.pw_gid:
        shift = 3
    else:
        shift = 0
    return (stat.S_IMODE(info.st_mode) >> shift) & need == need
