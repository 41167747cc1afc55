"""Configuration: the only module that reads the environment.

Every setting is an `FXCRM_*` environment variable; an optional file named by
`FXCRM_CONFIG_FILE` (KEY=VALUE lines) adds settings the environment does not set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PREFIX = "FXCRM_"
DEFAULT_DB = "sqlite:///instance/fxcrm.db"


class ConfigError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DB
    redis_url: str | None = None
    queue_name: str = "fxcrm"
    rules_dir: str = "rules"
    secret_key: str | None = None
    smtp_url: str | None = None
    mail_from: str = "backoffice@localhost"
    # Embedded mode runs a ticker thread that fires timers and sweeps unprocessed events.
    ticker_seconds: float = 5.0
    # Events whose processing failed this many times are parked for an operator.
    max_attempts: int = 8
    # First retry delay after a failure; it doubles with every attempt, up to 15 minutes.
    retry_base_seconds: float = 5.0
    # Events per transaction when ingesting files.
    ingest_batch: int = 500
    # Clients per rq job when draining in distributed mode.
    job_batch: int = 200
    # Process the most frequent event types set-based (engine.processing.batch) where the
    # result is exactly the per-event path's; FXCRM_BATCH=0 keeps every event per event.
    batch: bool = True
    # Clients whose events are still pending this long are swept again.
    sweep_after_seconds: float = 10.0
    # Extra modules to import at start (a broker's own projections), comma-separated.
    plugins: str = ""
    # Business hours for SLA due times (format in docs/inbox.md).
    business_hours: str = "Mon-Fri 09:00-18:00 UTC"
    # Reverse proxies in front of the web app that set X-Forwarded-For/-Proto/-Host
    # (0: none, trust no such header). Webhook limits and logs use the client's address.
    proxy_hops: int = 0
    # Session cookie `Secure` flag: None means on in distributed mode (production behind
    # TLS) and off in embedded mode (`fxcrm run` on http://localhost); 1/0 forces it.
    secure_cookies: bool | None = None
    # Roles that must use two-factor login (TOTP), comma-separated, e.g. "admin,finance".
    require_2fa_roles: str = ""
    # Rate limits (Flask-Limiter syntax); kept in Redis in distributed mode, else in memory.
    login_rate_limit: str = "10 per minute"  # per e-mail address tried
    login_address_rate_limit: str = "60 per minute"  # per client address (offices share one)
    api_rate_limit: str = "600 per minute"
    rate_limit_prefix: str = "fxcrm-limits"
    # Where client document files are kept: a folder (embedded default) or an
    # S3-compatible bucket, "s3://bucket/prefix" (AWS, MinIO, Ceph; FXCRM_S3_ENDPOINT_URL
    # for a non-AWS endpoint, credentials from the usual AWS_* variables or files).
    documents_url: str = "instance/documents"
    s3_endpoint_url: str | None = None
    # Largest document file accepted, in bytes (checked on the content as it is read).
    document_max_bytes: int = 15 * 1024 * 1024
    # The broker's bank account that clients wire deposits to (shown in the client portal
    # with each client's own reference, which the camt.054 import matches).
    bank_wire_beneficiary: str = ""
    bank_wire_iban: str = ""
    bank_wire_bic: str = ""
    # Connector secrets, by provider name: FXCRM_<PROVIDER>_<NAME>.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def distributed(self) -> bool:
        return bool(self.redis_url)

    @property
    def cookies_secure(self) -> bool:
        """Return whether the session cookie carries the Secure flag."""
        return self.distributed if self.secure_cookies is None else self.secure_cookies

    @property
    def roles_requiring_2fa(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.require_2fa_roles.split(",") if r.strip())

    def secret(self, name: str) -> str | None:
        """Return the connector secret FXCRM_<NAME>, or None."""
        return self.secrets.get(name.upper())

    def with_overrides(self, **values) -> "Config":
        """Return a copy with `values` replaced (tests and CLI options)."""
        return replace(self, **values)


_CASTS = {
    "ticker_seconds": float,
    "sweep_after_seconds": float,
    "retry_base_seconds": float,
    "max_attempts": int,
    "ingest_batch": int,
    "job_batch": int,
    "proxy_hops": int,
    "document_max_bytes": int,
}


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {raw!r}")


_CASTS["secure_cookies"] = _flag
_CASTS["batch"] = _flag
_SECRET_SUFFIXES = (
    "_SECRET",
    "_SECRET_KEY",
    "_TOKEN",
    "_WEBHOOK_TOKEN",
    "_API_TOKEN",
    "_BASE_URL",
    "_IPN_SECRET",
    "_WEBHOOK_SECRET",
    "_MANAGER_LOGIN",
    "_MANAGER_PASSWORD",
    "_CA_FILE",
)


def _read_file(path: str) -> dict[str, str]:
    values = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def load(environ: dict[str, str] | None = None) -> Config:
    """Build the configuration from the environment (and FXCRM_CONFIG_FILE)."""
    env = dict(os.environ if environ is None else environ)
    if env.get("FXCRM_CONFIG_FILE"):
        env = {**_read_file(env["FXCRM_CONFIG_FILE"]), **env}
    values: dict[str, object] = {}
    for fld in fields(Config):
        raw = env.get(PREFIX + fld.name.upper())
        if raw is None or fld.name == "secrets":
            continue
        try:
            values[fld.name] = _CASTS.get(fld.name, str)(raw)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{fld.name.upper()}: {exc}") from None
    values["secrets"] = {
        k[len(PREFIX) :]: v
        for k, v in env.items()
        if k.startswith(PREFIX) and k.endswith(_SECRET_SUFFIXES) and k != "FXCRM_SECRET_KEY"
    }
    return Config(**values)
