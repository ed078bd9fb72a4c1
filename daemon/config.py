"""Daemon settings: defaults, the TOML config file, command-line overrides. Every option is in
docs/daemon.md; the names here are the names in the file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

APP = "vividvr"
DEFAULT_PORT = 50777
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
# Test-only: seconds to sleep after each finished segment, so tests can act "mid-job" with the
# fast preview engine. Never set in production; it only slows jobs down.
TEST_SEGMENT_DELAY_ENV = "VIVIDVR_DAEMON_TEST_SEGMENT_DELAY"
PLACEMENT_ONE = "one_device"  # throughput: one job per device
PLACEMENT_SPLIT = "all_idle_devices"  # latency: a job spreads over every idle device


class ConfigError(ValueError):
    """The config file or a command-line option is invalid; the message names which."""


def default_config_file() -> Path:
    return platformdirs.user_config_path(APP) / "daemon.toml"


@dataclass(frozen=True)
class DaemonConfig:
    listen: str = DEFAULT_LISTEN
    data_dir: Path = field(default_factory=lambda: platformdirs.user_data_path(APP))
    log_dir: Path = field(default_factory=lambda: platformdirs.user_log_path(APP))
    media_roots: tuple[Path, ...] = field(default_factory=lambda: (Path.home(),))
    output_roots: tuple[Path, ...] = field(default_factory=lambda: (Path.home(),))
    devices: tuple[str, ...] = ("auto",)
    checkpoints: Path | None = None
    idle_unload_seconds: float = 600.0
    memory_limit_gib: float | None = None
    placement: str = PLACEMENT_ONE
    worker_retries: int = 2
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token_file: Path | None = None
    max_request_bytes: int = 1024 * 1024
    max_streams: int = 64
    progress_interval_seconds: float = 0.25
    test_segment_delay_seconds: float = 0.0

    @property
    def token(self) -> str | None:
        if self.token_file is None:
            return None
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"token_file {self.token_file}: {exc.strerror}") from None
        if len(token) < 16:
            raise ConfigError(f"token_file {self.token_file}: the token must be at least 16 characters")
        return token

    def validate(self) -> None:
        """Refuse to listen beyond this machine without TLS and a token."""
        host = listen_host(self.listen)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        if not is_local(host) and (self.tls_cert is None or self.token_file is None):
            raise ConfigError(
                f"listen {self.listen}: listening beyond this machine needs tls_cert, tls_key and token_file"
            )
        self.token  # noqa: B018 - read now so a bad token file stops the start, not the first request
        if not self.media_roots or not self.output_roots:
            raise ConfigError("at least one media_root and one output_root are needed")
        if self.placement not in (PLACEMENT_ONE, PLACEMENT_SPLIT):
            raise ConfigError(f"placement must be {PLACEMENT_ONE} or {PLACEMENT_SPLIT}, got {self.placement!r}")
        if not isinstance(self.worker_retries, int) or self.worker_retries < 0:
            raise ConfigError(f"worker_retries must be a whole number >= 0, got {self.worker_retries!r}")
        if self.max_request_bytes < 1024 or self.max_streams < 1:
            raise ConfigError("max_request_bytes must be >= 1024 and max_streams >= 1")

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "daemon.json"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "daemon.log"


def listen_host(listen: str) -> str:
    if listen.startswith("unix:"):
        return "unix"
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"listen {listen!r}: expected HOST:PORT or unix:PATH")
    return host.strip("[]")


def is_local(host: str) -> bool:
    if host in ("unix", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_PATH_FIELDS = {"data_dir", "log_dir", "checkpoints", "tls_cert", "tls_key", "token_file"}
_PATH_LIST_FIELDS = {"media_roots", "output_roots"}


def _coerce(name: str, value: object) -> object:
    if name in _PATH_FIELDS:
        return None if value is None else Path(str(value)).expanduser()
    if name in _PATH_LIST_FIELDS or name == "devices":
        if isinstance(value, str | Path):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list")
        return tuple(Path(str(v)).expanduser() for v in value) if name in _PATH_LIST_FIELDS else tuple(value)
    return value


def load_config(path: Path | None = None, overrides: dict | None = None) -> DaemonConfig:
    """Defaults, then the TOML file (if it exists, or if named explicitly), then `overrides`."""
    values: dict = {}
    file = path or default_config_file()
    if path is not None or file.exists():
        try:
            values.update(tomllib.loads(file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {file}: {exc}") from None
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if os.environ.get(TEST_SEGMENT_DELAY_ENV):
        values["test_segment_delay_seconds"] = float(os.environ[TEST_SEGMENT_DELAY_ENV])
    known = {f.name for f in dataclasses.fields(DaemonConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"config {file}: unknown option(s) {', '.join(unknown)}")
    try:
        config = DaemonConfig(**{k: _coerce(k, v) for k, v in values.items()})
    except TypeError as exc:
        raise ConfigError(f"config {file}: {exc}") from None
    config.validate()
    return config
