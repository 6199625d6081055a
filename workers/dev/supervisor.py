"""Generic child-process supervision, foreman-style, for `jieya dev`.

Each child runs in its own process group (so Ctrl-C in the terminal reaches only
the supervisor, which stops children in reverse start order) and gets a
parent-death signal (so a killed supervisor leaves no orphans). Output goes to
``<log_dir>/<name>.log`` and to the console behind a coloured, fixed-width name.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from workers.dev.console import Console, colour_for, pump_lines
from workers.dev.procs import die_with_parent, kill_process_group

ReadyCheck = Callable[["Child"], Awaitable[None]]
PreSpawn = Callable[["Child"], Awaitable[None]]

_SELF_NAME = "dev"


@dataclass(frozen=True)
class ChildSpec:
    """How to run, recognise as ready, and stop one child process."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    # Extra Popen arguments, e.g. user/group to drop root.
    popen_kwargs: Mapping[str, Any] | None = None
    # Awaited before every spawn, restarts included: clears what a killed run left
    # (blocking work belongs in a thread; the spawn itself stays on the loop's thread).
    pre_spawn: PreSpawn | None = None
    # Regex searched in each output line; the match is kept as `Child.ready_match`.
    ready_line: str | None = None
    # Awaited after the ready line (if any); the supervisor bounds it by ready_timeout.
    ready_check: ReadyCheck | None = None
    ready_timeout: float = 60.0
    # True: restart with backoff when it exits; False: its exit is fatal for the stack.
    restart: bool = False
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0


class StartupError(RuntimeError):
    def __init__(self, name: str, reason: str, log_path: Path) -> None:
        super().__init__(f"{name} {reason}; see {log_path}")
        self.name = name
        self.log_path = log_path


class Child:
    """Runtime state of one supervised child (across restarts)."""

    def __init__(self, spec: ChildSpec, log_path: Path, colour: str) -> None:
        self.spec = spec
        self.log_path = log_path
        self.colour = colour
        self.process: asyncio.subprocess.Process | None = None
        self.ready_match: re.Match[str] | None = None
        self.restarts = 0
        self.started_at = 0.0
        self._ready_line: asyncio.Future[re.Match[str]] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._log: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    def __init__(
        self,
        log_dir: Path,
        *,
        console: TextIO | None = sys.stdout,
        name_width: int = 9,
        colour: bool | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console = Console(console, name_width, colour)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.children: dict[str, Child] = {}
        self._stop_requested = asyncio.Event()
        self._force = asyncio.Event()
        self._fatal: str | None = None
        self._stopping = False
        self._own_log = open(self.log_dir / f"{_SELF_NAME}.log", "ab")  # noqa: SIM115

    # -- output ------------------------------------------------------------------

    def say(self, message: str, *, detail: str | None = None) -> None:
        """A line from the supervisor itself, to the console and logs/dev.log (+ detail)."""
        self.console.line(_SELF_NAME, "1", message)
        text = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n" + (detail or "")
        self._own_log.write(text.encode())
        self._own_log.flush()

    def _handle_line(self, child: Child, raw: bytes) -> None:
        if child._log is not None:
            child._log.write(raw + b"\n")
            child._log.flush()
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.console.line(child.name, child.colour, line)
        waiting = child._ready_line
        if waiting is not None and not waiting.done() and child.spec.ready_line:
            match = re.search(child.spec.ready_line, line)
            if match:
                waiting.set_result(match)

    def _mark(self, child: Child, message: str) -> None:
        if child._log is not None:
            child._log.write(f"[jieya dev {time.strftime('%H:%M:%S')}] {message}\n".encode())
            child._log.flush()

    # -- starting -------------------------------------------------------------------

    async def start(self, spec: ChildSpec) -> Child:
        """Spawn `spec` and wait until it is ready; raise StartupError otherwise.

        A name whose start failed may be started again (e.g. with another port).
        """
        failed = self.children.get(spec.name)
        if failed is not None and (failed._monitor is not None or failed.running):
            raise ValueError(f"child {spec.name!r} already started")
        if self._stopping:
            raise RuntimeError("supervisor is stopping")
        colour = failed.colour if failed else colour_for(len(self.children))
        if failed is not None and failed._log is not None:
            failed._log.close()
        child = Child(spec, self.log_dir / f"{spec.name}.log", colour)
        self.children[spec.name] = child
        child._log = open(child.log_path, "ab")  # noqa: SIM115 - closed in stop()
        await self._spawn_and_wait(child)
        self.say(f"{spec.name} is ready (pid {child.pid}, log {child.log_path})")
        child._monitor = asyncio.create_task(self._monitor(child), name=f"monitor-{spec.name}")
        return child

    async def _spawn_and_wait(self, child: Child) -> None:
        spec = child.spec
        child.ready_match = None
        child._ready_line = asyncio.get_running_loop().create_future()
        if spec.pre_spawn is not None:
            try:
                await spec.pre_spawn(child)
            except Exception as exc:
                raise StartupError(
                    spec.name, f"could not be prepared ({exc})", child.log_path
                ) from exc
        self._mark(child, f"starting: {' '.join(spec.argv)}")
        # Shielded: a cancelled start must still leave a Process object that stop() can kill.
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(spec.env) if spec.env is not None else None,
                cwd=spec.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent(spec.stop_signal),
                **dict(spec.popen_kwargs or {}),
            )
        )
        try:
            process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            child.process = await spawning
            raise
        except OSError as exc:
            raise StartupError(spec.name, f"could not be started ({exc})", child.log_path) from exc
        child.process = process
        child.started_at = time.monotonic()
        assert process.stdout is not None
        child._pump = asyncio.create_task(
            pump_lines(process.stdout, lambda raw: self._handle_line(child, raw))
        )
        try:
            await self._wait_ready(child, process)
        except StartupError:
            await self._terminate(child)
            raise
        self._mark(child, f"ready (pid {process.pid})")

    async def _wait_ready(self, child: Child, process: asyncio.subprocess.Process) -> None:
        spec = child.spec

        async def ready() -> None:
            if spec.ready_line:
                assert child._ready_line is not None
                child.ready_match = await child._ready_line
            if spec.ready_check:
                await spec.ready_check(child)

        ready_task = asyncio.create_task(ready())
        exit_task = asyncio.create_task(_exited(process))
        try:
            done, _ = await asyncio.wait(
                {ready_task, exit_task},
                timeout=spec.ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ready_task.cancel()
            exit_task.cancel()
        if ready_task in done:
            if ready_task.exception() is None:
                return
            raise StartupError(
                spec.name, f"failed its readiness check: {ready_task.exception()}", child.log_path
            )
        if exit_task in done:
            if child._pump:  # let its last words reach the log before we point there
                await asyncio.wait({child._pump}, timeout=2)
            raise StartupError(
                spec.name,
                f"exited with code {process.returncode} before it was ready",
                child.log_path,
            )
        raise StartupError(
            spec.name, f"was not ready after {spec.ready_timeout:.0f}s", child.log_path
        )

    # -- watching -------------------------------------------------------------------

    async def _monitor(self, child: Child) -> None:
        failures = 0
        while True:
            assert child.process is not None
            code = await _exited(child.process)
            if self._stopping:
                return
            kill_process_group(child.process.pid)  # leftovers would hold the port or the pipe
            if child._pump:
                await asyncio.wait({child._pump}, timeout=2)
            self._mark(child, f"exited with code {code}")
            if not child.spec.restart:
                self._fatal = (
                    f"{child.name} exited unexpectedly with code {code}; see {child.log_path}"
                )
                self.say(self._fatal)
                self._stop_requested.set()
                return
            if time.monotonic() - child.started_at > self.stable_after:
                failures = 0
            while True:
                delay = min(self.backoff_max, self.backoff_initial * 2**failures)
                failures += 1
                self.say(f"{child.name} exited with code {code}; restarting in {delay:.1f}s")
                await asyncio.sleep(delay)
                child.restarts += 1
                try:
                    await self._spawn_and_wait(child)
                except StartupError as exc:
                    self.say(f"restart failed: {exc}")
                    code = child.process.returncode if child.process else None
                    continue
                self.say(f"{child.name} restarted (pid {child.pid})")
                break

    async def wait(self) -> str | None:
        """Until a stop is requested or a non-restartable child dies; the fatal reason or None."""
        await self._stop_requested.wait()
        return self._fatal

    @property
    def fatal(self) -> str | None:
        return self._fatal

    def request_stop(self) -> None:
        """Signal-handler safe; a second request kills instead of waiting."""
        if self._stop_requested.is_set():
            self._force.set()
        self._stop_requested.set()

    # -- stopping ---------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop every child, newest first; idempotent."""
        self._stopping = True
        self._stop_requested.set()
        monitors = [c._monitor for c in self.children.values() if c._monitor]
        for task in monitors:
            task.cancel()
        await asyncio.gather(*monitors, return_exceptions=True)
        for child in reversed(list(self.children.values())):
            await self._terminate(child)
            if child._log is not None:
                child._log.close()
                child._log = None

    async def _terminate(self, child: Child) -> None:
        process, spec = child.process, child.spec
        if process is None:
            return
        if process.returncode is None:
            self.say(f"stopping {child.name} (pid {process.pid})")
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(spec.stop_signal)
            exited = asyncio.ensure_future(_exited(process))
            forced = asyncio.ensure_future(self._force.wait())
            await asyncio.wait(
                {exited, forced}, timeout=spec.stop_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            forced.cancel()
            if not exited.done():
                why = (
                    "asked twice"
                    if self._force.is_set()
                    else f"not stopped in {spec.stop_timeout:.0f}s"
                )
                self.say(f"killing {child.name} ({why})")
                kill_process_group(process.pid)
                await asyncio.wait({exited}, timeout=5)
            exited.cancel()
            self._mark(child, f"stopped (code {process.returncode})")
        # Whatever the child left in its process group goes with it.
        kill_process_group(process.pid)
        if child._pump is not None:
            await asyncio.wait({child._pump}, timeout=2)
            child._pump.cancel()

    def close(self) -> None:
        self._own_log.close()


async def _exited(process: asyncio.subprocess.Process) -> int:
    # Not process.wait(): before Python 3.12 it also waits for the output pipe to close,
    # which a grandchild can hold open long after the child itself died.
    while process.returncode is None:  # noqa: ASYNC110 - set by the child watcher, no event
        await asyncio.sleep(0.05)
    return process.returncode
