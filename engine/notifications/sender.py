"""Send email through the SMTP server named by FXCRM_SMTP_URL (smtp://, smtps://, ?starttls=1)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 10


class SmtpConfigError(ValueError):
    """FXCRM_SMTP_URL is malformed."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: str  # "none", "ssl" (smtps://) or "starttls"
    username: str | None
    password: str | None


def parse_url(url: str) -> SmtpTarget:
    """Parse smtp://user:pass@host:port, smtps://..., or smtp://...?starttls=1."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpConfigError("FXCRM_SMTP_URL must look like smtp://host:25 or smtps://user:pass@host:465")
    starttls = parse_qs(parts.query).get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    tls = "ssl" if parts.scheme == "smtps" else ("starttls" if starttls else "none")
    try:
        port = parts.port or (465 if tls == "ssl" else 25)
    except ValueError:
        raise SmtpConfigError("FXCRM_SMTP_URL has a bad port") from None
    return SmtpTarget(
        parts.hostname,
        port,
        tls,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    if target.tls == "ssl":
        return smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context())
    smtp = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_SECONDS)
    if target.tls == "starttls":
        smtp.starttls(context=ssl.create_default_context())
    return smtp


def send_email(url: str, *, sender: str, to: str, subject: str, body: str, message_id: str | None = None) -> None:
    """Send one plain-text email; raise smtplib/OSError errors to the caller."""
    target = parse_url(url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    with _connect(target) as smtp:
        if target.username:
            smtp.login(target.username, target.password or "")
        smtp.send_message(message)
