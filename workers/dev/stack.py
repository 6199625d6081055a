"""`jieya dev`: PostgreSQL, Temporal, the simulators, the worker and the API under one supervisor.

Order: PostgreSQL → Temporal → simulators → migrations → API → worker →
``dev-stack.json`` → demo seed (the API before the worker: the worker is told the
API's port for registry callbacks, and an automatic port may change while starting). Whatever is configured externally (JIEYA_DATABASE_URL,
JIEYA_TEMPORAL_ADDRESS, JIEYA_REGISTRY_URL, …) is used instead of being started.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from kernel.codec import ensure_keys_file
from kernel.settings import LOCK_FILE, STACK_FILE, Settings
from workers.dev import pieces
from workers.dev.embedded_pg import PG_HOST, EmbeddedPostgres, EmbeddedPostgresError
from workers.dev.supervisor import Child, ChildSpec, StartupError, Supervisor

DATABASE_NAME = "jieya"
CREDENTIALS_FILE = "dev-credentials.json"


@dataclass(frozen=True)
class DevStack:
    """Where each piece of a running stack answers; `dev-stack.json` on disk."""

    api: str
    temporal: str
    temporal_ui: str | None
    database_url: str
    registry: str
    sms: str
    smtp: str
    mail_log: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        tmp.replace(path)


class DataDirBusy(RuntimeError):
    pass


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir for this process's lifetime (flock: no stale locks)."""
    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise DataDirBusy(
            f"another `jieya dev` (pid {owner}) is already running on {data_dir}; stop it, "
            "or give this one its own JIEYA_DATA_DIR (and ports)"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)


class _DevStackRun:
    """One run of the stack: starts the pieces in order and remembers what it resolved."""

    def __init__(self, settings: Settings, supervisor: Supervisor) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.data_dir = settings.data_dir
        self.pg: EmbeddedPostgres | None = None
        self.env: dict[str, str] = {"JIEYA_DATA_DIR": str(self.data_dir)}
        self.temporal_ui: str | None = None
        self.ports = pieces.Ports()

    def _set(self, **values: str | int | None) -> None:
        for key, value in values.items():
            if value is not None:
                self.env[f"JIEYA_{key.upper()}"] = str(value)

    def _resolve_ports(self) -> None:
        """Every port this run listens on, chosen before anything starts (see `Ports`)."""
        s = self.settings
        if not s.database_url:
            self.ports.resolve("postgres", 0, "", PG_HOST)  # always chosen free
        wanted: dict[str, tuple[int, str]] = {"api": (s.api_port, "JIEYA_API_PORT")}
        if not s.temporal_address:
            wanted["temporal"] = (s.temporal_port, "JIEYA_TEMPORAL_PORT")
            wanted["temporal_ui"] = (s.temporal_ui_port, "JIEYA_TEMPORAL_UI_PORT")
        if not s.registry_url:
            wanted["registry"] = (s.registry_port, "JIEYA_REGISTRY_PORT")
        if not s.sms_url:
            wanted["sms"] = (s.sms_port, "JIEYA_SMS_PORT")
        if not s.smtp_host:
            wanted["smtp"] = (s.smtp_port, "JIEYA_SMTP_PORT")
            wanted["mail_log"] = (s.mail_log_port, "JIEYA_MAIL_LOG_PORT")
        for name, (port, setting) in wanted.items():
            host = s.api_host if name == "api" else "127.0.0.1"
            self.ports.resolve(name, port, setting, host)

    async def _start(self, names: Iterable[str], build: Callable[[], ChildSpec]) -> Child:
        """Start a child on `names`' ports, choosing again any automatic one taken meanwhile."""
        return await pieces.start_with_port_retry(self.supervisor, self.ports, names, build)

    async def start(self) -> tuple[Settings, DevStack]:
        settings, sup, ports = self.settings, self.supervisor, self.ports
        if not settings.payload_keys and not settings.payload_keys_file:
            # Every Temporal payload is encrypted; the dev stack keeps its key here,
            # where the worker, the API and the CLI next to it find it.
            ensure_keys_file(self.data_dir)
        self._resolve_ports()
        database_url = settings.database_url or await self._start_postgres()
        self._set(database_url=database_url)

        temporal = settings.temporal_address
        if not temporal:
            await self._start(
                ("temporal", "temporal_ui"),
                lambda: pieces.temporal_spec(
                    settings, self.data_dir, ports["temporal"], ports["temporal_ui"]
                ),
            )
            temporal = f"127.0.0.1:{ports['temporal']}"
            self.temporal_ui = f"http://127.0.0.1:{ports['temporal_ui']}"
        self._set(temporal_address=temporal, temporal_namespace=settings.temporal_namespace)

        sim_dir = self.data_dir / "sim"
        sim_dir.mkdir(parents=True, exist_ok=True)

        registry = settings.registry_url
        if not registry:
            child = await self._start(
                ("registry",),
                lambda: pieces.registry_spec(settings, ports["registry"], sim_dir, self._env()),
            )
            registry = child.ready_match["url"]
        sms = settings.sms_url
        if not sms:
            child = await self._start(
                ("sms",), lambda: pieces.sms_spec(ports["sms"], sim_dir, self._env())
            )
            sms = child.ready_match["url"]
        mail_log = None
        if settings.smtp_host:
            smtp = f"{settings.smtp_host}:{settings.smtp_port}"
        else:
            child = await self._start(
                ("smtp", "mail_log"),
                lambda: pieces.mail_spec(ports["smtp"], ports["mail_log"], sim_dir, self._env()),
            )
            smtp, mail_log = child.ready_match["smtp"], child.ready_match["http"]
        smtp_host, _, smtp_port = smtp.rpartition(":")
        self._set(registry_url=registry, sms_url=sms, smtp_host=smtp_host, smtp_port=smtp_port)

        from kernel.db import upgrade_database

        sup.say("applying database migrations")
        await upgrade_database(database_url)

        self._set(api_host=settings.api_host)

        def api_url() -> str:
            return f"http://{_connect_host(settings.api_host)}:{ports['api']}"

        await self._start(("api",), lambda: pieces.api_spec(self._env(), api_url()))
        api = api_url()
        await sup.start(pieces.worker_spec(self._env()))

        stack = DevStack(
            api=api,
            temporal=temporal,
            temporal_ui=self.temporal_ui,
            database_url=database_url,
            registry=registry,
            sms=sms,
            smtp=smtp,
            mail_log=mail_log,
        )
        stack.write(self.data_dir / STACK_FILE)
        self._set_ports()
        resolved = settings.model_dump()
        resolved.update({k.removeprefix("JIEYA_").lower(): v for k, v in self.env.items()})
        resolved_settings = type(settings)(**resolved)

        from workers.dev.seed import seed_demo

        sup.say("seeding demo data")
        await seed_demo(resolved_settings, stack.as_dict())
        return resolved_settings, stack

    async def _start_postgres(self) -> str:
        # In a thread: as root it may create a system user and copy the binaries.
        pg = self.pg = await asyncio.to_thread(
            EmbeddedPostgres,
            self.data_dir / "pg",
            self.ports["postgres"],
            log_file=self.settings.logs_dir / "postgres.log",
        )

        def spec() -> ChildSpec:
            pg.port = self.ports["postgres"]
            return pieces.postgres_spec(pg)

        await self._start(("postgres",), spec)
        return await pg.ensure_database(DATABASE_NAME)

    def _env(self) -> dict[str, str]:
        """The environment for a child started now: everything resolved so far."""
        self._set_ports()
        return pieces.child_env(self.env)

    def _set_ports(self) -> None:
        # PostgreSQL's port reaches the children inside the database URL.
        ports = {n: p for n, p in self.ports.chosen.items() if n != "postgres"}
        self._set(**{f"{name}_port": port for name, port in ports.items()})


def _summary(settings: Settings, stack: DevStack) -> str:
    data_dir = settings.data_dir
    lines = [
        "",
        "jieya dev is up.",
        f"  Console       {stack.api}/console",
        f"  API docs      {stack.api}/api/v1/docs",
        f"  Temporal UI   {stack.temporal_ui or '(external Temporal: ' + stack.temporal + ')'}",
        f"  Credentials   {data_dir / CREDENTIALS_FILE}",
        f"  Stack         {data_dir / STACK_FILE}",
        f"  Logs          {settings.logs_dir}/",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


async def run_dev_stack(settings: Settings) -> int:
    """Run the stack until Ctrl-C/SIGTERM (→ 0) or until a vital piece fails (→ 1).

    Returns 2 without starting anything if another `jieya dev` holds the data dir.
    """
    data_dir = settings.data_dir.absolute()
    settings = type(settings)(**{**settings.model_dump(), "data_dir": data_dir})
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_data_dir(data_dir)
    except DataDirBusy as exc:
        print(f"jieya dev: {exc}", file=sys.stderr)
        return 2

    supervisor = Supervisor(settings.logs_dir)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        loop.add_signal_handler(sig, supervisor.request_stop)
    run = _DevStackRun(settings, supervisor)
    code = 0
    startup = asyncio.create_task(run.start())
    stopped = asyncio.create_task(supervisor.wait())
    try:
        await asyncio.wait({startup, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():  # Ctrl-C, or a vital piece died, while starting
            startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await startup
            code = 1 if supervisor.fatal else 0
        elif (exc := startup.exception()) is not None:
            expected = (StartupError, EmbeddedPostgresError, pieces.PortInUse)
            log = settings.logs_dir / "dev.log"
            detail = str(exc) if isinstance(exc, expected) else f"{exc!r} (traceback in {log})"
            trace = "".join(traceback.format_exception(exc))
            supervisor.say(f"jieya dev could not start: {detail}", detail=trace)
            code = 1
        else:
            resolved, stack = startup.result()
            print(_summary(resolved, stack), flush=True)
            code = 1 if await stopped else 0
    finally:
        for task in (startup, stopped):
            task.cancel()
        supervisor.say("stopping")
        await supervisor.stop()
        if run.pg is not None:
            run.pg.cleanup()
        for sig in signals:
            loop.remove_signal_handler(sig)
        (data_dir / STACK_FILE).unlink(missing_ok=True)
        reason = f": {supervisor.fatal}" if supervisor.fatal else ""
        supervisor.say("stopped" if code == 0 else f"stopped (exit {code}){reason}")
        supervisor.close()
        lock.close()
    return code
