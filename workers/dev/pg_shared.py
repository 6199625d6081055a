"""Where the embedded PostgreSQL lives when its system user cannot reach the
checkout: a root-owned, world-readable home under SHARED_ROOT for the shared
copy of the binaries and for clusters whose data dir sits in a private
directory (a clone under /root, or `mktemp -d`). We never widen a directory
we did not create; we move what must be reachable to a place that is."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from workers.dev.procs import reachable_by

# Root-owned home for what that user must reach when it cannot where it is.
SHARED_ROOT = Path("/var/lib/jieya")
# A shared cluster whose data dir is gone is removed at once if that dir was a
# temporary one (test runs), else only after this long unused (a moved clone that
# is started again within it finds its cluster through the moved link).
ORPHAN_GRACE_S = 7 * 24 * 3600


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be set up, started or reached."""


def link_shared_cluster(data_dir: Path, cluster_dir: Path, user: pwd.struct_passwd) -> None:
    """Make the data dir a symlink to the cluster's shared home, so every run finds it.

    A cluster an earlier run kept in the data dir itself is moved there; a home left
    from an earlier data dir at the same path that was since removed starts afresh
    (its Temporal history went with that dir). Homes of vanished data dirs go.
    """
    home = cluster_dir.parent
    with _locked(shared_dir(user, "clusters")) as clusters:
        _remove_orphans(clusters, keep=home)
        linked = data_dir.is_symlink()
        if linked and data_dir.resolve() != cluster_dir:
            raise EmbeddedPostgresError(
                f"{data_dir} links to {data_dir.resolve()}, which the user "
                f"{user.pw_name} that runs PostgreSQL cannot reach; "
                "point the link at a directory it can reach, or remove the link"
            )
        home.mkdir(exist_ok=True)
        home.chmod(0o755)
        # Rewritten on each use: names a moved data dir, and its age says "in use".
        (home / "owner").write_text(f"{data_dir}\n")
        if linked:
            return
        if data_dir.is_dir() and any(data_dir.iterdir()):
            _move_cluster_to(data_dir, cluster_dir)
        else:
            if data_dir.is_dir():
                data_dir.rmdir()
            remove_cluster(cluster_dir)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        data_dir.symlink_to(cluster_dir, target_is_directory=True)


def _move_cluster_to(data_dir: Path, target: Path) -> None:
    if target.exists():
        raise EmbeddedPostgresError(
            f"{data_dir} holds a cluster but {target} holds another; remove the one you do not need"
        )
    try:
        data_dir.rename(target)
    except OSError as exc:  # not one filesystem: too big a copy to do behind your back
        raise EmbeddedPostgresError(
            f"PostgreSQL's user cannot reach {data_dir} and it could not be moved "
            f"to {target} ({exc}); move it there and leave a symlink in its place"
        ) from None


def clusters_dir() -> Path:
    return SHARED_ROOT / "clusters"


def shared_dir(user: pwd.struct_passwd, *parts: str) -> Path:
    """SHARED_ROOT/parts, created root-owned and 0755 where missing.

    One that exists but that `user` cannot enter is refused, not widened: someone
    else made it so.
    """
    path = SHARED_ROOT.joinpath(*parts)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        created.chmod(0o755)  # mkdir's mode is cut by the umask
    if not reachable_by(path, user, os.R_OK | os.X_OK):
        raise EmbeddedPostgresError(
            f"{path} exists but the user {user.pw_name} that runs PostgreSQL cannot enter it; "
            "make it (and its parents) world-searchable, or remove it"
        )
    return path


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[Path]:
    """Hold an exclusive lock on `directory` (flock: released if we die)."""
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield directory


def _remove_orphans(clusters: Path, keep: Path) -> None:
    """Remove shared cluster homes whose data dir no longer links to them (see ORPHAN_GRACE_S)."""
    for home in clusters.iterdir():
        if home == keep or not home.is_dir() or not _is_orphan(home):
            continue
        if not server_processes(home / "data"):
            shutil.rmtree(home, ignore_errors=True)


def _is_orphan(home: Path) -> bool:
    try:
        owner = Path((home / "owner").read_text().strip())
        unused_for = time.time() - (home / "owner").stat().st_mtime
    except OSError:
        return True  # interrupted before anything could link to it
    if owner.is_symlink() and owner.resolve() == (home / "data").resolve():
        return False
    temporary = owner.is_relative_to(Path(tempfile.gettempdir()).resolve())
    return temporary or unused_for > ORPHAN_GRACE_S


def remove_cluster(cluster: Path) -> None:
    """Delete a shared cluster that no data dir links to, unless a server still runs on it."""
    if not cluster.exists():
        return
    if server_processes(cluster):
        raise EmbeddedPostgresError(f"PostgreSQL still runs on {cluster}; stop it first")
    shutil.rmtree(cluster)


def server_processes(cluster: Path) -> list[psutil.Process]:
    """Live postgres processes serving `cluster` (every one of them chdirs into it)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres" and cwd_is(proc, cluster):
            found.append(proc)
    return found


def cwd_is(proc: psutil.Process, directory: Path) -> bool:
    try:
        return Path(proc.cwd()) == directory.resolve()
    except (psutil.Error, OSError):
        return False
