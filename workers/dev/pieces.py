"""The pieces of the `jieya dev` stack: how each child is started and known to be ready."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path

import httpx

from kernel.settings import Settings
from workers.dev.binaries import temporal_cli_path
from workers.dev.embedded_pg import EmbeddedPostgres
from workers.dev.procs import free_port, port_is_free
from workers.dev.supervisor import Child, ChildSpec, StartupError, Supervisor

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SEARCH_ATTRIBUTES = {"CaseStatus": "Keyword", "RiskGrade": "Keyword"}
LISTENING = r"^LISTENING (?P<url>http://\S+)"
MAIL_LISTENING = r"^LISTENING smtp=(?P<smtp>\S+) http=(?P<http>http://\S+)"
# How often a child is started again on newly chosen ports when others took its own.
PORT_RETRIES = 5


class PortInUse(RuntimeError):
    pass


def resolve_port(port: int, setting: str, host: str = "127.0.0.1") -> int:
    """0 → a free port; a fixed port must be free, or a second stack would talk to the first."""
    if port == 0:
        return free_port(host)
    if not port_is_free(port, host):
        raise PortInUse(
            f"port {port} ({setting}) is already in use, perhaps by another `jieya dev`; "
            f"set {setting}=0 to pick a free one"
        )
    return port


class Ports:
    """The ports of one stack run, by piece name.

    Chosen before anything starts, so a busy fixed port fails fast and a restarted
    child comes back where the others were told it is. A port chosen automatically
    (configured 0) can still be taken by another process before its child binds it;
    `start_with_port_retry` then chooses it again.
    """

    def __init__(self) -> None:
        self.chosen: dict[str, int] = {}
        self._auto: set[str] = set()
        self._hosts: dict[str, str] = {}

    def __getitem__(self, name: str) -> int:
        return self.chosen[name]

    def resolve(self, name: str, port: int, setting: str, host: str = "127.0.0.1") -> int:
        self._hosts[name] = host
        if port:
            self.chosen[name] = resolve_port(port, setting, host)
        else:
            self._auto.add(name)
            self.chosen[name] = self._free_port(name)
        return self.chosen[name]

    def taken(self, names: Iterable[str]) -> list[str]:
        """Those of `names` chosen automatically that another process now holds."""
        return [n for n in names if n in self._auto and not port_is_free(self[n], self._hosts[n])]

    def choose_again(self, name: str) -> int:
        self.chosen[name] = self._free_port(name)
        return self.chosen[name]

    def _free_port(self, name: str) -> int:
        while True:  # the OS may hand out a port twice
            port = free_port(self._hosts[name])
            if port not in (p for n, p in self.chosen.items() if n != name):
                return port


async def start_with_port_retry(
    supervisor: Supervisor, ports: Ports, names: Iterable[str], build: Callable[[], ChildSpec]
) -> Child:
    """Start the child `build()` describes, listening on `names`' ports.

    If it fails to start and another process now holds one of its automatically
    chosen ports, choose new ones and start it again (up to PORT_RETRIES times);
    `build` reads the new ports. Any other failure is raised at once.
    """
    names = list(names)
    retries = 0
    while True:
        spec = build()
        try:
            return await supervisor.start(spec)
        except StartupError:
            taken = ports.taken(names)
            if not taken or retries == PORT_RETRIES:
                raise
        retries += 1
        moved = ", ".join(f"{n} {ports[n]} → {ports.choose_again(n)}" for n in taken)
        supervisor.say(f"{spec.name}: another process took its port ({moved}); starting again")


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # Children must import this very checkout and flush each line (ready lines!).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


# -- readiness checks (each polls; the supervisor bounds it with ready_timeout) -----------


async def http_ok(url: str) -> None:
    async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)


async def temporal_answers(address: str, namespace: str) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client
    from temporalio.service import RPCError

    request = DescribeNamespaceRequest(namespace=namespace)
    while True:
        try:
            client = await asyncio.wait_for(Client.connect(address, namespace=namespace), 5)
            await client.workflow_service.describe_namespace(request, timeout=timedelta(seconds=5))
            return
        except (RuntimeError, RPCError, OSError, TimeoutError):
            await asyncio.sleep(0.25)


# -- child specs ------------------------------------------------------------------------


def postgres_spec(pg: EmbeddedPostgres) -> ChildSpec:
    async def prepare(_: Child) -> None:
        # initdb the first time; after a crash, the stale pidfile, lingering backends
        # and the old socket dir would stop the new postmaster.
        await asyncio.to_thread(pg.prepare)

    async def ready(_: Child) -> None:
        await pg.wait_ready(timeout=55)

    return ChildSpec(
        "postgres",
        pg.argv,
        env=pg.env,
        cwd=pg.cluster_dir,
        popen_kwargs=pg.popen_user_kwargs(),
        pre_spawn=prepare,
        ready_check=ready,
        ready_timeout=60,
        restart=True,
        stop_signal=signal.SIGINT,  # fast shutdown
    )


def temporal_spec(settings: Settings, data_dir: Path, port: int, ui_port: int) -> ChildSpec:
    argv = [
        str(temporal_cli_path()),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    address, namespace = f"127.0.0.1:{port}", settings.temporal_namespace

    async def ready(_: Child) -> None:
        await temporal_answers(address, namespace)

    # Restarted on the same ports and SQLite file: workflows carry on where they were.
    return ChildSpec(
        "temporal", argv, cwd=data_dir, ready_check=ready, ready_timeout=90, restart=True
    )


def registry_spec(
    settings: Settings, port: int, sim_dir: Path, env: Mapping[str, str]
) -> ChildSpec:
    argv = python_module(
        "simulators.registry",
        "--port",
        str(port),
        "--state-file",
        str(sim_dir / "registry.json"),
        "--hmac-secret",
        settings.registry_hmac_secret,
    )
    return ChildSpec(
        "registry", argv, env=env, ready_line=LISTENING, ready_timeout=30, restart=True
    )


def sms_spec(port: int, sim_dir: Path, env: Mapping[str, str]) -> ChildSpec:
    argv = python_module(
        "simulators.sms", "--port", str(port), "--state-file", str(sim_dir / "sms.json")
    )
    return ChildSpec("sms", argv, env=env, ready_line=LISTENING, ready_timeout=30, restart=True)


def mail_spec(smtp_port: int, http_port: int, sim_dir: Path, env: Mapping[str, str]) -> ChildSpec:
    argv = python_module(
        "simulators.mail",
        "--smtp-port",
        str(smtp_port),
        "--http-port",
        str(http_port),
        "--state-file",
        str(sim_dir / "mail.json"),
    )
    return ChildSpec(
        "mail", argv, env=env, ready_line=MAIL_LISTENING, ready_timeout=30, restart=True
    )


def worker_spec(env: Mapping[str, str]) -> ChildSpec:
    # Generous: the worker loads the OCR models before it says READY.
    return ChildSpec(
        "worker",
        python_module("workers.cli", "worker"),
        env=env,
        ready_line=r"^READY",
        ready_timeout=180,
        restart=True,
    )


def api_spec(env: Mapping[str, str], api_url: str) -> ChildSpec:
    async def ready(_: Child) -> None:
        await http_ok(f"{api_url}/api/v1/healthz")

    return ChildSpec(
        "api",
        python_module("workers.cli", "api"),
        env=env,
        ready_check=ready,
        ready_timeout=90,
        restart=True,
    )
