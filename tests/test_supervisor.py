"""The dev-stack supervisor, with small real Python children."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from workers.dev import pieces as devpieces
from workers.dev.pieces import PortInUse, Ports, start_with_port_retry
from workers.dev.procs import free_port, port_is_free
from workers.dev.stack import DataDirBusy, lock_data_dir
from workers.dev.supervisor import Child, ChildSpec, StartupError, Supervisor

REPO_ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import os, signal, socket, subprocess, sys, time
    name, events, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    arg = sys.argv[4] if len(sys.argv) > 4 else None

    def record(what):
        with open(events, "a") as f:
            f.write(f"{name} {what} {os.getpid()}\\n")

    def on_term(*_):
        record("term")
        if mode != "stubborn":
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    record("start")
    if mode == "exit3":
        print("failing on purpose", flush=True)
        sys.exit(3)
    extra = ""
    if mode == "listen":  # a server on the port it was given, as our children are
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", int(arg)))
        except OSError as exc:
            print(f"bind: {exc}", flush=True)
            sys.exit(1)
        server.listen()
        extra = f" port={arg}"
    if mode == "pidfile":  # like a postmaster: refuses to start over a stale pidfile
        if os.path.exists(arg):
            print("stale pidfile", flush=True)
            sys.exit(4)
        with open(arg, "w") as f:
            f.write(str(os.getpid()))
    if mode == "grandchild":  # stays in our process group, ignores SIGTERM
        grandchild = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
        extra = f" grandchild={grandchild.pid}"
    if mode != "silent":
        print(f"hello from {name}", flush=True)
        print(f"READY{extra}", flush=True)
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture
def child_script(tmp_path: Path) -> Path:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return script


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def eventually(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout}s")
        await asyncio.sleep(0.05)


def events(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "events.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [tuple(line.split()[:2]) for line in lines]  # type: ignore[misc]


def spec(
    script: Path, tmp_path: Path, name: str, mode: str = "steady", arg: str = "", **kw
) -> ChildSpec:
    argv = [sys.executable, str(script), name, str(tmp_path / "events.txt"), mode, arg]
    kw.setdefault(
        "ready_line", r"^READY(?: grandchild=(?P<grandchild>\d+))?(?: port=(?P<port>\d+))?"
    )
    kw.setdefault("ready_timeout", 20)
    return ChildSpec(name, argv, **kw)


@pytest.fixture
async def supervisor(tmp_path: Path):
    sup = Supervisor(tmp_path / "logs", console=None, backoff_initial=0.4, backoff_max=2.0)
    yield sup
    await asyncio.wait_for(sup.stop(), 30)
    sup.close()


async def test_crashed_child_is_restarted_with_growing_backoff(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    child = await supervisor.start(spec(child_script, tmp_path, "worker", restart=True))
    gaps = []
    for round_ in (1, 2):
        old_pid = child.pid
        assert old_pid is not None
        killed_at = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        await eventually(
            lambda r=round_: child.restarts == r and child.ready_match is not None, 15, "restart"
        )
        gaps.append(time.monotonic() - killed_at)
        assert child.running and child.pid != old_pid
    assert gaps[0] >= 0.4 and gaps[1] >= 0.8  # 0.4 s, then doubled
    assert supervisor.fatal is None
    log = (tmp_path / "logs" / "worker.log").read_text()
    assert log.count("hello from worker") == 3  # one log across restarts
    assert "exited with code -9" in log


async def test_death_of_a_vital_child_ends_the_stack(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    child = await supervisor.start(spec(child_script, tmp_path, "postgres"))
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    reason = await asyncio.wait_for(supervisor.wait(), 10)
    assert reason is not None
    assert "postgres exited unexpectedly" in reason
    assert str(tmp_path / "logs" / "postgres.log") in reason


async def test_stop_goes_in_reverse_order_and_leaves_no_orphans(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    first = await supervisor.start(spec(child_script, tmp_path, "first"))
    second = await supervisor.start(spec(child_script, tmp_path, "second", mode="grandchild"))
    assert second.ready_match is not None
    grandchild = int(second.ready_match["grandchild"])
    pids = [first.pid, second.pid, grandchild]
    assert all(alive(pid) for pid in pids if pid)

    await asyncio.wait_for(supervisor.stop(), 30)

    terms = [name for name, what in events(tmp_path) if what == "term"]
    assert terms == ["second", "first"]
    assert not any(alive(pid) for pid in pids if pid)


async def test_child_ignoring_sigterm_is_killed_after_its_stop_timeout(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    child = await supervisor.start(
        spec(child_script, tmp_path, "stubborn", mode="stubborn", stop_timeout=0.5)
    )
    pid = child.pid
    assert pid is not None
    started = time.monotonic()
    await asyncio.wait_for(supervisor.stop(), 10)
    assert time.monotonic() - started < 5
    assert ("stubborn", "term") in events(tmp_path)
    assert not alive(pid)


async def test_startup_failures_name_the_child_and_its_log(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    with pytest.raises(StartupError, match=r"broken exited with code 3 before it was ready") as e:
        await supervisor.start(spec(child_script, tmp_path, "broken", mode="exit3"))
    assert str(tmp_path / "logs" / "broken.log") in str(e.value)
    assert "failing on purpose" in (tmp_path / "logs" / "broken.log").read_text()

    with pytest.raises(StartupError, match=r"mute was not ready after 1s"):
        await supervisor.start(spec(child_script, tmp_path, "mute", mode="silent", ready_timeout=1))
    mute = supervisor.children["mute"]
    assert mute.pid is not None and not alive(mute.pid)


async def test_ready_check_is_awaited_after_the_ready_line(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    calls = []

    async def check(child) -> None:
        calls.append(child.ready_match is not None)

    await supervisor.start(spec(child_script, tmp_path, "checked", ready_check=check))
    assert calls == [True]


async def test_children_die_with_a_killed_supervisor(child_script: Path, tmp_path: Path) -> None:
    events_file = tmp_path / "events.txt"
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from workers.dev.supervisor import ChildSpec, Supervisor

        async def main():
            sup = Supervisor(Path({str(tmp_path / "logs")!r}), console=None)
            argv = [sys.executable, {str(child_script)!r}, "orphan", {str(events_file)!r},
                    "steady"]
            child = await sup.start(ChildSpec("orphan", argv, ready_line="^READY"))
            print("CHILD", child.pid, flush=True)
            await asyncio.sleep(300)

        asyncio.run(main())
        """
    )
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 30)
        assert line.startswith(b"CHILD"), line
        pid = int(line.split()[1])
        assert alive(pid)
        owner.kill()
        await asyncio.wait_for(owner.wait(), 10)
        await eventually(lambda: not alive(pid), 10, "child gone with its supervisor")
    finally:
        if owner.returncode is None:
            owner.kill()
            await asyncio.wait_for(owner.wait(), 10)


def test_second_holder_of_a_data_dir_is_refused(tmp_path: Path) -> None:
    first = lock_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirBusy, match=rf"pid {os.getpid()}\) is already running on"):
            lock_data_dir(tmp_path)
    finally:
        first.close()
    lock_data_dir(tmp_path).close()  # free again once the holder is gone


async def test_killed_child_is_prepared_again_before_its_restart(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "db.pid"
    found_stale: list[bool] = []

    async def clear_stale_pidfile(_: Child) -> None:
        await asyncio.sleep(0)
        found_stale.append(pidfile.exists())
        pidfile.unlink(missing_ok=True)

    child = await supervisor.start(
        spec(
            child_script,
            tmp_path,
            "db",
            mode="pidfile",
            arg=str(pidfile),
            restart=True,
            pre_spawn=clear_stale_pidfile,
        )
    )
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)  # leaves its pidfile behind, as a killed postmaster does
    await eventually(lambda: child.restarts == 1 and child.ready_match is not None, 15, "restart")
    assert child.running and child.pid != first
    assert found_stale == [False, True]  # before the first spawn, then before the restart
    assert pidfile.read_text() == str(child.pid)
    assert supervisor.fatal is None
    assert "stale pidfile" not in (tmp_path / "logs" / "db.log").read_text()


async def test_a_failing_pre_spawn_hook_is_a_startup_error(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    async def broken(_: Child) -> None:
        raise OSError("disk full")

    with pytest.raises(StartupError, match=r"prepped could not be prepared \(disk full\)"):
        await supervisor.start(spec(child_script, tmp_path, "prepped", pre_spawn=broken))
    assert ("prepped", "start") not in events(tmp_path)


def listening_socket(port: int = 0) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    return server


def test_a_port_whose_last_connection_lingers_in_time_wait_is_free() -> None:
    server = listening_socket()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not port_is_free(port)  # a live listener
    accepted.close()  # the server's side closes first, so its end waits in TIME_WAIT
    client.close()
    server.close()
    deadline = time.monotonic() + 5
    while not any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
        for c in psutil.net_connections("tcp4")
    ):
        assert time.monotonic() < deadline, "no TIME_WAIT connection to test with"
        time.sleep(0.01)
    assert port_is_free(port)


def starts(tmp_path: Path, name: str) -> int:
    return events(tmp_path).count((name, "start"))


async def test_child_whose_automatic_port_was_taken_meanwhile_starts_on_another(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    squatter = listening_socket()
    taken = squatter.getsockname()[1]
    ports = Ports()
    ports.resolve("sim", 0, "JIEYA_SIM_PORT")
    ports.chosen["sim"] = taken  # as if another process bound it right after we chose it
    try:

        def build() -> ChildSpec:
            return spec(child_script, tmp_path, "sim", "listen", str(ports["sim"]), restart=True)

        child = await start_with_port_retry(supervisor, ports, ["sim"], build)
        assert ports["sim"] != taken
        assert child.ready_match is not None and child.ready_match["port"] == str(ports["sim"])
        assert starts(tmp_path, "sim") == 2
        assert "bind:" in (tmp_path / "logs" / "sim.log").read_text()

        # A restart keeps the port the others were told.
        chosen, first = ports["sim"], child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: child.restarts == 1 and child.ready_match is not None, 15, "up")
        assert child.ready_match["port"] == str(chosen)
    finally:
        squatter.close()


async def test_a_fixed_port_that_is_taken_fails_fast(
    supervisor: Supervisor, child_script: Path, tmp_path: Path
) -> None:
    squatter = listening_socket()
    taken = squatter.getsockname()[1]
    ports = Ports()
    try:
        with pytest.raises(PortInUse, match=rf"port {taken} \(JIEYA_SIM_PORT\) is already in use"):
            ports.resolve("sim", taken, "JIEYA_SIM_PORT")

        # Taken only after the check: the child's failure stands, it is not moved elsewhere.
        fixed = free_port()
        ports.resolve("sim", fixed, "JIEYA_SIM_PORT")
        late = listening_socket(fixed)
        try:
            with pytest.raises(StartupError, match="sim exited with code 1"):
                await start_with_port_retry(
                    supervisor,
                    ports,
                    ["sim"],
                    lambda: spec(child_script, tmp_path, "sim", "listen", str(fixed)),
                )
        finally:
            late.close()
        assert starts(tmp_path, "sim") == 1
        assert ports["sim"] == fixed
    finally:
        squatter.close()


async def test_port_retries_are_limited(
    supervisor: Supervisor, child_script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    squatter = listening_socket()
    taken = squatter.getsockname()[1]
    ports = Ports()
    ports.resolve("sim", 0, "JIEYA_SIM_PORT")
    monkeypatch.setattr(devpieces, "port_is_free", lambda port, host: False)  # always stolen
    try:
        with pytest.raises(StartupError):
            await start_with_port_retry(
                supervisor,
                ports,
                ["sim"],
                lambda: spec(child_script, tmp_path, "sim", "listen", str(taken)),
            )
    finally:
        squatter.close()
    assert starts(tmp_path, "sim") == devpieces.PORT_RETRIES + 1
