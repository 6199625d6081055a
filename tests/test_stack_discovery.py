"""Commands that talk to a running `jieya dev` find it through its dev-stack.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kernel.settings import LOCK_FILE, STACK_FILE, Settings
from models.enums import Role
from models.operators import add_operator

REPO_ROOT = Path(__file__).resolve().parents[1]
ADDRESS_VARS = (
    "JIEYA_DATABASE_URL",
    "JIEYA_TEMPORAL_ADDRESS",
    "JIEYA_REGISTRY_URL",
    "JIEYA_SMS_URL",
    "JIEYA_SMTP_HOST",
    "JIEYA_SMTP_PORT",
)


def write_stack(data_dir: Path, pid: int | None = None, **overrides: str) -> dict[str, str]:
    """dev-stack.json as `jieya dev` writes it, with its lock naming a live process (us)."""
    (data_dir / LOCK_FILE).write_text(f"{pid or os.getpid()}\n")
    stack = {
        "api": "http://127.0.0.1:41000",
        "temporal": "127.0.0.1:41001",
        "temporal_ui": "http://127.0.0.1:41002",
        "database_url": "postgresql+asyncpg://postgres@127.0.0.1:41003/jieya",
        "registry": "http://127.0.0.1:41004",
        "sms": "http://127.0.0.1:41005",
        "smtp": "127.0.0.1:41006",
        "mail_log": "http://127.0.0.1:41007",
        **overrides,
    }
    (data_dir / STACK_FILE).write_text(json.dumps(stack))
    return stack


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No address in the environment, as in a fresh shell next to a running stack."""
    for name in ADDRESS_VARS:
        monkeypatch.delenv(name, raising=False)


def test_unset_addresses_come_from_the_stack_file(tmp_path: Path, bare_env: None) -> None:
    stack = write_stack(tmp_path)
    found = Settings(data_dir=tmp_path).with_running_stack()
    assert found.database_url == stack["database_url"]
    assert found.temporal_address == stack["temporal"]
    assert found.resolved_temporal_address == "127.0.0.1:41001"
    assert found.registry_url == stack["registry"]
    assert found.sms_url == stack["sms"]
    assert (found.smtp_host, found.smtp_port) == ("127.0.0.1", 41006)


def test_explicit_settings_win_over_the_stack_file(
    tmp_path: Path, bare_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stack(tmp_path)
    monkeypatch.setenv("JIEYA_TEMPORAL_ADDRESS", "temporal.prod:7233")
    monkeypatch.setenv("JIEYA_SMTP_PORT", "2525")
    found = Settings(data_dir=tmp_path, sms_url="http://sms.prod").with_running_stack()
    assert found.temporal_address == "temporal.prod:7233"
    assert found.sms_url == "http://sms.prod"
    assert (found.smtp_host, found.smtp_port) == ("127.0.0.1", 2525)
    assert found.database_url == "postgresql+asyncpg://postgres@127.0.0.1:41003/jieya"

    monkeypatch.setenv("JIEYA_SMTP_HOST", "mail.prod")
    found = Settings(data_dir=tmp_path).with_running_stack()
    assert (found.smtp_host, found.smtp_port) == ("mail.prod", 2525)


def test_without_a_stack_file_nothing_changes(tmp_path: Path, bare_env: None) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.with_running_stack().database_url is None
    write_stack(tmp_path)
    (tmp_path / STACK_FILE).write_text("{not json")
    assert settings.with_running_stack().temporal_address is None
    assert settings.with_running_stack().resolved_temporal_address == "127.0.0.1:7233"


def test_the_file_of_a_killed_stack_is_ignored(tmp_path: Path, bare_env: None) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_stack(tmp_path, pid=gone.pid)
    assert Settings(data_dir=tmp_path).with_running_stack().database_url is None


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ADDRESS_VARS}
    env["JIEYA_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_operator_list_finds_the_database_of_the_running_stack(
    tmp_path: Path, database_url: str, sessions
) -> None:
    name = f"disc-{uuid.uuid4().hex[:8]}"
    await add_operator(sessions, name, Role.AUDITOR)
    write_stack(tmp_path, database_url=database_url)

    result = cli(tmp_path, "operator", "list")

    assert result.returncode == 0, result.stderr
    assert any(line.split()[:2] == [name, "auditor"] for line in result.stdout.splitlines())


async def test_replay_finds_temporal_of_the_running_stack(
    tmp_path: Path, database_url: str, dev_env
) -> None:
    temporal = dev_env.client.service_client.config.target_host
    write_stack(tmp_path, database_url=database_url, temporal=temporal)

    result = cli(tmp_path, "replay", "no-such-case")

    assert "not reachable" not in result.stderr, result.stderr
    assert result.returncode == 3, result.stdout + result.stderr  # missing, from both places
    assert "MISSING no-such-case" in result.stdout


def test_a_command_next_to_a_killed_stack_says_what_is_missing(
    tmp_path: Path, database_url: str
) -> None:
    # The stale file of a stack killed with SIGKILL must not steer anything, least of
    # all the next `jieya dev` on that data dir (which would take its database as external).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_stack(tmp_path, pid=gone.pid, database_url=database_url)

    result = cli(tmp_path, "operator", "list")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "JIEYA_DATABASE_URL is not set" in result.stderr
    assert str(tmp_path / STACK_FILE) in result.stderr
