"""The portal's own e-mails: the confirmation link and the password-reset link.

They carry a secret (the link), so they are sent straight through the SMTP server
after the unit of work commits and never stored as notifications or logged.
"""

from __future__ import annotations

import logging
import smtplib
from typing import TYPE_CHECKING

from engine.notifications.sender import SmtpConfigError, send_email

if TYPE_CHECKING:
    from engine.config import Config

log = logging.getLogger(__name__)

SUBJECTS = {"verify": "Confirm your e-mail address", "reset": "Reset your password"}
BODIES = {
    "verify": "Welcome. Open this link to confirm your e-mail address and sign in:\n\n{link}\n\n"
    "The link works once, for 2 days. If you did not register, ignore this e-mail.",
    "reset": "Open this link to choose a new password:\n\n{link}\n\n"
    "The link works once, for 1 hour. If you did not ask for it, ignore this e-mail: "
    "your password stays as it is.",
}


def send_link(config: Config, *, to: str, purpose: str, link: str) -> bool:
    """Send the e-mail with `link`; return whether it left (no SMTP server: False)."""
    if not config.smtp_url:
        return False
    try:
        send_email(
            config.smtp_url,
            sender=config.mail_from,
            to=to,
            subject=SUBJECTS[purpose],
            body=BODIES[purpose].format(link=link),
        )
    except (smtplib.SMTPException, OSError, SmtpConfigError) as exc:
        log.warning("portal %s e-mail not sent: %s", purpose, type(exc).__name__)
        return False
    return True
