"""What the `fxcrm` command modules (engine.cli and each domain's `cli`) share: a user
error's exit, the configured database, the actor of a change, and `--json` output."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any, Callable, Iterable

import click

from engine import config as config_mod
from engine.db import Database, get_database


def fail(message: str) -> None:
    """Print an error and exit 1 (a user error)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def database() -> Database:
    """Return the configured database."""
    return get_database(config_mod.load())


def cli_actor(name: str | None = None) -> str:
    """Who a command-line change is by (the audit log's actor): the name given, else the
    operating-system user as `cli:<login>`."""
    return name or f"cli:{getpass.getuser()}"


def emit(data: Any, as_json: bool, lines: Callable[[Any], Iterable[str]]) -> None:
    """Print `data` as indented JSON (--json), else each of the lines `lines(data)` makes."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for line in lines(data):
        click.echo(line)


def emit_rows(rows: list, as_json: bool, line: Callable[[Any], str], *, none: str | None = None) -> None:
    """Print `rows` as a JSON list (--json), else one `line(row)` a row; `none` is printed
    instead when there are no rows."""
    emit(rows, as_json, lambda rows: [line(row) for row in rows] or ([none] if none else []))
