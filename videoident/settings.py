"""Typed settings, read from the environment with the prefix ``VIDEOIDENT_``.

Outside development the settings refuse unsafe defaults: a missing master key, the published demo key,
or a plain-HTTP public URL raise :class:`UnsafeSettingsError` at start-up, not at the first request.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Environment", "Settings", "UnsafeSettingsError", "MASTER_KEY_BYTES"]

#: AES-256 needs a 32-byte key.
MASTER_KEY_BYTES = 32
#: The file a development instance keeps its generated master key in (under ``data_dir``).
DEV_MASTER_KEY_FILE = "dev-master.key"


class UnsafeSettingsError(ValueError):
    """The configuration would run a non-development instance with an unsafe default."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def _shared_tessdata() -> Path | None:
    """The MRZ model in ../shared/data/tessdata of a development checkout, if present."""
    here = Path(__file__).resolve().parent.parent
    candidate = here.parent / "shared" / "data" / "tessdata"
    return candidate if (candidate / "mrz.traineddata").is_file() else None


class Settings(BaseSettings):
    """All configuration. Every field can be set as ``VIDEOIDENT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VIDEOIDENT_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    #: Root of the embedded default: SQLite file, encrypted vault, dev key.
    data_dir: Path = Path("var")
    #: SQLAlchemy URL. Default: a SQLite file under ``data_dir``. PostgreSQL for scale-out.
    database_url: str | None = None
    #: Redis URL for the scaled mode (queue, pub/sub, rate limits). None = in-process.
    redis_url: str | None = None
    #: Prefix of every Redis key and channel this installation uses (several installations, or test runs,
    #: can share one Redis).
    redis_prefix: str = "videoident:"
    #: Set by ``videoident serve --workers N`` for each child: a unique id ("w1-<host>-<pid>"); None when
    #: the process is the only worker.
    worker_id: str | None = None
    #: Set by ``videoident serve --workers N`` for each child: the loopback URL only this worker listens on
    #: (``http://127.0.0.1:<port>``), so another worker can forward a request to it.
    worker_internal_url: str | None = None
    #: Base64 of 32 random bytes; wraps every session's data key. Required outside development.
    master_key: SecretStr | None = None
    #: Identifier stored with every wrapped data key, so keys can be rotated.
    master_key_id: str = "k1"
    #: Older master keys still accepted for unwrapping during a rotation: "id:base64,id:base64".
    previous_master_keys: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: The URL customers and agents reach the service at; links in TAN mails and customer URLs use it.
    public_base_url: str = "http://127.0.0.1:8000"
    #: Folder holding ``mrz.traineddata`` (DoubangoTelecom/tesseractMRZ, BSD-3).
    tessdata_dir: Path | None = None

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.environment is Environment.DEVELOPMENT:
            return self
        if self.master_key is None:
            raise UnsafeSettingsError(
                f"VIDEOIDENT_MASTER_KEY is required when VIDEOIDENT_ENVIRONMENT={self.environment.value}"
            )
        key = _decode_key(self.master_key.get_secret_value())
        if key == bytes(MASTER_KEY_BYTES):
            raise UnsafeSettingsError("VIDEOIDENT_MASTER_KEY is the all-zero demo key")
        if self.environment is Environment.PRODUCTION and not self.public_base_url.startswith("https://"):
            raise UnsafeSettingsError("VIDEOIDENT_PUBLIC_BASE_URL must be https:// in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'videoident.db'}"

    @property
    def vault_dir(self) -> Path:
        return self.data_dir / "vault"

    @property
    def resolved_tessdata_dir(self) -> Path | None:
        """The setting, else ../shared/data/tessdata of a development checkout, else None."""
        return self.tessdata_dir or _shared_tessdata()

    @cached_property
    def master_key_bytes(self) -> bytes:
        """The 32-byte master key. In development only, generated once and kept under ``data_dir``."""
        if self.master_key is not None:
            return _decode_key(self.master_key.get_secret_value())
        if self.environment is not Environment.DEVELOPMENT:  # pragma: no cover - refused by the validator
            raise UnsafeSettingsError("no master key")
        return _load_or_create_dev_key(self.data_dir / DEV_MASTER_KEY_FILE)

    def previous_master_key_bytes(self) -> dict[str, bytes]:
        """Older master keys by id, for unwrapping data keys during a rotation."""
        if self.previous_master_keys is None:
            return {}
        keys: dict[str, bytes] = {}
        for item in self.previous_master_keys.get_secret_value().split(","):
            key_id, _, encoded = item.strip().partition(":")
            if not key_id or not encoded:
                raise UnsafeSettingsError("VIDEOIDENT_PREVIOUS_MASTER_KEYS must be 'id:base64,...'")
            keys[key_id] = _decode_key(encoded)
        return keys


def _decode_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnsafeSettingsError("the master key must be base64") from exc
    if len(key) != MASTER_KEY_BYTES:
        raise UnsafeSettingsError(f"the master key must be {MASTER_KEY_BYTES} bytes, got {len(key)}")
    return key


def _load_or_create_dev_key(path: Path) -> bytes:
    if path.is_file():
        return _decode_key(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode_key(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode())
    return key
