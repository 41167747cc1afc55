"""Small builders shared by tests."""

from __future__ import annotations

import itertools
import json
import uuid
from contextlib import contextmanager
from typing import Iterator

_ids = itertools.count(1)


def event(
    etype: str,
    client: str = "C1",
    at: str = "2026-11-01T10:00:00Z",
    *,
    source: str = "test",
    id: str | None = None,
    **data,
) -> dict:
    """Build a canonical event envelope."""
    return {
        "id": id or f"ev-{next(_ids)}",
        "type": etype,
        "source": source,
        "occurred_at": at,
        "client": client,
        "data": data,
    }


def registered(client: str = "C1", at: str = "2026-11-01T10:00:00Z", **extra) -> dict:
    """Build a client.registered event."""
    data = {"email": f"{client.lower()}@example.com", "country": "DE", "client_type": "individual", **extra}
    return event("client.registered", client, at, **data)


def deposit_failed(client: str = "C1", at: str = "2026-11-01T11:00:00Z", amount: str = "100.00", **extra) -> dict:
    """Build a payment.deposit_failed event."""
    data = {
        "payment_id": extra.pop("payment_id", f"p-{next(_ids)}"),
        "amount": amount,
        "currency": "USD",
        "method": "card",
        "provider": "stripe",
        "reason_code": "card_declined",
        "reason": "Your card was declined.",
        **extra,
    }
    return event("payment.deposit_failed", client, at, **data)


# The keys every task carries in its JSON form (the CLI's `tasks list --json` and the API alike).
TASK_KEYS = (
    "id",
    "queue",
    "status",
    "priority",
    "title",
    "client",
    "rule_id",
    "ruleset_version",
    "created_at",
    "due_at",
    "assignee",
    "explanation",
)


def staff_email(role: str) -> str:
    """The e-mail of the test user of `role`."""
    return f"{role}@example.com"


def add_staff(session, password_hash: str) -> None:
    """Add one active user per role, `<role>@example.com` (the partner is IB-1's)."""
    from engine.users.models import ROLES, User
    from engine.values import utcnow

    for role in ROLES:
        session.add(
            User(
                email=staff_email(role),
                role=role,
                password_hash=password_hash,
                active=True,
                failed_logins=0,
                created_at=utcnow(),
                ib_id="IB-1" if role == "partner" else None,
            )
        )


def rule_task(session, queue: str, client_ref: str, title: str, event_seq: int, *, version: str, why: dict, **task):
    """Create the task the rule `<queue>-rule` of ruleset `version` opens for an event, with
    its explanation (`why` holds its description, and its conditions and facts)."""
    from engine.tasks import service as tasks_service

    rule = f"{queue}-rule"
    explanation = {"rule": rule, "description": why["description"], "ruleset_version": version, "events": [event_seq]}
    created, _ = tasks_service.create(
        session,
        queue=queue,
        title=title,
        client_ref=client_ref,
        rule_id=rule,
        ruleset_version=version,
        explanation={**explanation, **why},
        **task,
    )
    return created


def aml_points(session, points: int, reason: str, rule_id: str, trigger_key: str, client_ref: str = "C1"):
    """Add points to the client's `aml_risk` score as the rule `rule_id` would; return the
    contribution (None when the trigger already added one)."""
    from engine.scores import service as scores

    return scores.add(
        session,
        client_ref=client_ref,
        name="aml_risk",
        points=points,
        reason=reason,
        trigger_key=trigger_key,
        rule_id=rule_id,
    )


def open_standard_account(session, client_ref: str, account_id: str, opened_at, platform: str = "mt5"):
    """Open a standard USD trading account with leverage 100 for the client."""
    from engine.accounts import service as accounts_service

    return accounts_service.open_account(
        session,
        client_ref=client_ref,
        account_id=account_id,
        platform=platform,
        account_type="standard",
        currency="USD",
        leverage=100,
        opened_at=opened_at,
    )


def rules_active(database, files: dict[str, str]):
    """Activate these rule files for one test, with no ruleset cached before or after it
    (a fixture's body: `yield from rules_active(database, files)`)."""
    from engine.db import unit_of_work
    from engine.rules import activation

    activation.forget()
    with unit_of_work(database) as s:
        activation.activate_files(s, files, actor="test")
    yield
    activation.forget()


def jsonl(events) -> str:
    """Serialise events as JSON lines."""
    return "".join(json.dumps(e) + "\n" for e in events)


@contextmanager
def own_queues(cfg) -> Iterator:
    """A Database for `cfg` in distributed mode with rq queues of its own (a fresh queue
    name), so tests never see each other's jobs; the queues are emptied afterwards."""
    from engine.db import Database
    from engine.processing import jobs

    cfg = cfg.with_overrides(queue_name=f"fxcrm-test-{uuid.uuid4().hex[:8]}")
    db = Database(cfg)
    try:
        yield db
    finally:
        jobs.get_queue(cfg).empty()
        jobs.get_queue(cfg, bulk=True).empty()
        db.dispose()


def record_and_process(database, events) -> None:
    """Store these envelopes (via "test") and hand their clients to processing after the
    commit, as live intake does (no check that none is rejected: `ingest` builders do that)."""
    from engine.db import unit_of_work
    from engine.events.store import record_many
    from engine.processing.ingest import schedule_touched

    with unit_of_work(database) as s:
        record_many(s, list(events), via="test")
        schedule_touched(s, database)
