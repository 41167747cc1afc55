"""`fxcrm notifications ...`: client notifications."""

from __future__ import annotations

import json

import click

from engine import config as config_mod
from engine.db import get_database


@click.group()
def notifications():
    """Client notifications."""


@notifications.command("deliver")
def deliver():
    """Send every queued email notification now (after an SMTP outage or a crash)."""
    from engine.notifications import service

    counts = service.deliver_pending(get_database(config_mod.load()))
    click.echo(json.dumps(counts, sort_keys=True))


commands = [notifications]
