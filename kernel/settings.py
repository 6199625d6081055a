"""One place for configuration: every knob is a `JIEYA_*` environment variable."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.codec import KEYS_FILE, CodecError, PayloadKeys

CASES_TASK_QUEUE = "jieya-cases"
OCR_TASK_QUEUE = "jieya-ocr"
DEV_SECRET = "jieya-dev-secret-not-for-production"
# Written by a running `jieya dev` into its data dir: where each piece answers,
# and the lock it holds while it runs (with its pid inside).
STACK_FILE = "dev-stack.json"
LOCK_FILE = "dev.lock"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIEYA_", extra="ignore")

    env: str = Field("dev", description="dev | test | prod; prod refuses unsafe defaults")
    data_dir: Path = Path("./.jieya")
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_tls: bool = False
    temporal_api_key: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # The engine that reads every page, and the one whose recogniser re-reads the
    # identity fields ("none": no second opinion); chosen by bench.second_opinion,
    # see docs/ocr.md "Engines".
    ocr_engine: str = "ppocrv4"
    ocr_second_engine: str = "ppocrv6"
    ocr_concurrency: int = 2
    paddle_model_dir: Path | None = None
    registry_url: str | None = None
    registry_port: int = 0
    registry_hmac_secret: str = DEV_SECRET
    sms_url: str | None = None
    sms_port: int = 0
    smtp_host: str | None = None
    smtp_port: int = 0
    mail_log_port: int = 0
    mail_from: str = "noreply@jieya.local"
    operators_alert_email: str = "operators@jieya.local"
    seniors_alert_email: str = "senior-queue@jieya.local"
    lender_name: str = "华夏汽车金融有限公司"
    max_upload_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    log_format: str = Field("console", description="console | json")
    # Keys that encrypt every Temporal payload (kernel/codec.py): `id:base64key`
    # entries, newest first. Unset: the keys file named below, else the data dir's.
    payload_keys: str | None = None
    payload_keys_file: Path | None = None

    @model_validator(mode="after")
    def _refuse_unsafe_production_defaults(self) -> Settings:
        if self.env == "prod":
            missing = [
                name
                for name, value in (
                    ("JIEYA_DATABASE_URL", self.database_url),
                    ("JIEYA_TEMPORAL_ADDRESS", self.temporal_address),
                    ("JIEYA_REGISTRY_URL", self.registry_url),
                    ("JIEYA_SMS_URL", self.sms_url),
                )
                if not value
            ]
            if self.registry_hmac_secret == DEV_SECRET:
                missing.append("JIEYA_REGISTRY_HMAC_SECRET (still the dev secret)")
            if not self.payload_keys and not self.payload_keys_file:
                missing.append("JIEYA_PAYLOAD_KEYS or JIEYA_PAYLOAD_KEYS_FILE")
            if missing:
                raise ValueError("production settings missing: " + ", ".join(missing))
        return self

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def with_running_stack(self) -> Settings:
        """These settings, completed from the `jieya dev` running on `data_dir`.

        Each address not set explicitly (in the environment or as an argument) is
        taken from `dev-stack.json`: the database, Temporal, the registry, SMS and
        SMTP simulators. Explicit settings always win; without the file, or when the
        stack that wrote it is gone (killed, so it could not remove it), nothing changes.
        """
        if not _stack_runs(self.data_dir):
            return self
        try:
            stack = json.loads((self.data_dir / STACK_FILE).read_text())
        except (OSError, ValueError):
            return self
        if not isinstance(stack, dict):
            return self
        explicit = self.model_fields_set
        found: dict[str, str | int] = {}
        for field, key in (
            ("database_url", "database_url"),
            ("temporal_address", "temporal"),
            ("registry_url", "registry"),
            ("sms_url", "sms"),
        ):
            if field not in explicit and stack.get(key):
                found[field] = stack[key]
        host, _, port = str(stack.get("smtp") or "").rpartition(":")
        if "smtp_host" not in explicit and host and port.isdigit():
            found["smtp_host"] = host
            if "smtp_port" not in explicit:
                found["smtp_port"] = int(port)
        return self.model_copy(update=found) if found else self

    def payload_keyring(self) -> PayloadKeys | None:
        """The keys that encrypt Temporal payloads, or None: payloads in plain text
        (tests of old histories, or a deployment that has not set any)."""
        if self.payload_keys:
            return PayloadKeys.parse(self.payload_keys)
        path = self.payload_keys_file or self.data_dir / KEYS_FILE
        if self.payload_keys_file is None and not path.exists():
            return None
        try:
            return PayloadKeys.parse(path.read_text())
        except OSError as exc:
            raise CodecError(f"cannot read the payload keys file {path}: {exc}") from None

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


def _stack_runs(data_dir: Path) -> bool:
    """Whether the `jieya dev` that last locked `data_dir` is still alive (by its pid)."""
    try:
        pid = int((data_dir / LOCK_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, as another user
        return True
    return True


def get_settings() -> Settings:
    return Settings()
