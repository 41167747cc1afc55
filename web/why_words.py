""" "Why this task" in plain words, from a rule's recorded explanation.

A rule's explanation holds the facts its condition read (`client.kyc.documents.missing_count:
3`), the conditions as written and, for a timer, when it started and fell due. Staff read
sentences, not conditions: a situation this module knows (documents still missing after a
delay, a first deposit without an account...) becomes one sentence, every other known fact
kind one sentence each, and an unknown fact a generic "<name> was <value>".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Callable

from engine.kyc.service import DOCUMENT_NAMES  # one name per document type, for clients and staff
from engine.values import parse_datetime

KYC_STATUS_WORDS = {
    "not_started": "the client had not started KYC",
    "pending": "KYC was pending",
    "on_hold": "the KYC provider had put the review on hold",
    "retry": "the KYC provider had asked the client to try again",
    "approved": "KYC was approved",
    "rejected": "KYC was rejected",
}
EVENT_WORDS = {
    "client.registered": "the client registered",
    "client.profile_updated": "the client's profile changed",
    "kyc.document_submitted": "the client sent a document",
    "kyc.document_rejected": "a document was rejected",
    "kyc.review_completed": "a KYC result arrived",
    "kyc.review_pending": "the KYC review started",
    "kyc.on_hold": "the KYC provider put the review on hold",
    "kyc.reset": "the KYC provider reset the review",
    "payment.deposit_completed": "a deposit completed",
    "payment.deposit_failed": "a deposit failed",
    "payment.withdrawal_requested": "the client asked for a withdrawal",
    "wallet.transfer_failed": "a transfer failed",
    "account.created": "a trading account was opened",
    "account.status_changed": "a trading account changed status",
    "trade.closed": "a trade closed",
    "ib.referral_attributed": "an IB referral was recorded",
}
# Guards a rule reads to stay correct, not reasons a person acts on.
TECHNICAL_FACTS = {"client.kyc.result_is_current", "event.type", "event.source", "event.occurred_at"}


def _is_true(value) -> bool:
    return value is True or str(value).lower() == "true"


def _number(value) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def duration_words(delta: timedelta) -> str:
    """Return a delay as words: `7 days`, `24 hours`, `90 minutes`."""
    seconds = int(delta.total_seconds())
    if seconds >= 86400 and seconds % 86400 == 0 and seconds != 86400:
        return _plural(seconds // 86400, "day")
    if 3600 <= seconds < 3 * 86400 and seconds % 3600 == 0:
        return _plural(seconds // 3600, "hour")
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    return _plural(max(seconds // 60, 0), "minute")


def document_list(types) -> str:
    """Return document types as words: `identity document, proof of address`."""
    return ", ".join(DOCUMENT_NAMES.get(t, str(t).replace("_", " ")) for t in types)


# `count(type within Ns)`, the key a rule's `count(type within 1h)` is recorded under.
_COUNT_KEY = re.compile(r"count\((?P<type>[\w.]+)(?: within (?P<seconds>\d+)s)?\)")


def humanize(path: str) -> str:
    """Return a fact path as words: `client.deposits.failed.count` -> `deposits failed count`,
    `count(staff.login_failed within 3600s)` -> `staff login failed events in the last 1 hour`."""
    count = _COUNT_KEY.fullmatch(path)
    if count:
        what = count["type"].replace(".", " ").replace("_", " ") + " events"
        if count["seconds"] is None:
            return what
        return f"{what} in the last {duration_words(timedelta(seconds=int(count['seconds'])))}"
    name = path.split(":", 1)[0]
    for prefix in ("client.", "event."):
        name = name[len(prefix) :] if name.startswith(prefix) else name
    return name.replace(".", " ").replace("_", " ")


def _value_words(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v).replace("_", " ") for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "nothing" if value is None else str(value).replace("_", " ")


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + "."


def _count_sentence(n: int | None, none: str, some: str) -> str | None:
    if n is None:
        return None
    return none if n == 0 else some.format(n=n)


FACT_SENTENCES: dict[str, Callable[[object], str | None]] = {
    "client.kyc.status": lambda v: _sentence(KYC_STATUS_WORDS.get(str(v), f"KYC was {_value_words(v)}")),
    "client.status": lambda v: f"The client's status was {_value_words(v)}.",
    "client.kyc.documents.missing_count": lambda v: _count_sentence(
        _number(v), "No document was missing.", "{n} required documents had not been sent."
    ),
    "client.kyc.documents.missing": lambda v: f"Missing documents: {document_list(v or [])}.",
    "client.kyc.documents.rejected_count": lambda v: _count_sentence(
        _number(v), "No document had been rejected.", "{n} documents had been rejected."
    ),
    "client.kyc.provider_result": lambda v: f"The KYC provider's result was {_value_words(v)}.",
    "client.kyc.reason": lambda v: f"The KYC provider's reason: {v}." if v else None,
    "client.kyc.labels": lambda v: f"The KYC provider flagged: {_value_words(v)}." if v else None,
    "client.kyc.overridden": lambda v: "A person had overridden the KYC result." if _is_true(v) else None,
    "client.profile.missing_fields": lambda v: f"Profile fields missing: {_value_words(v)}." if v else None,
    "client.deposits.failed.unresolved": lambda v: (
        "A deposit failed and no deposit has succeeded since."
        if _is_true(v)
        else "Every failed deposit was followed by a good one."
    ),
    "client.deposits.completed.count": lambda v: (
        _count_sentence(_number(v), "The client had no completed deposit.", "The client had {n} completed deposits.")
        if _number(v) != 1
        else "It was the client's first completed deposit."
    ),
    "client.deposits.failed.count": lambda v: _count_sentence(
        _number(v), "No deposit had failed.", "{n} deposits had failed."
    ),
    "client.accounts.count": lambda v: _count_sentence(
        _number(v), "The client still had no trading account.", "The client had {n} trading accounts."
    ),
    "client.accounts.locked.count": lambda v: _count_sentence(
        _number(v), "No trading account was locked.", "{n} trading accounts were locked."
    ),
    "client.withdrawals.pending.count": lambda v: _count_sentence(
        _number(v), "No withdrawal was pending.", "{n} withdrawals were pending."
    ),
    "client.withdrawals.waiting_for": lambda v: f"Withdrawals were waiting for: {_value_words(v)}." if v else None,
    "client.country_risk": lambda v: f"The client's country is on the {v}-risk list.",
    "client.risk.deposits_to_income_percent": lambda v: f"Deposits reached {v}% of the declared income.",
    "client.ib": lambda v: f"The client was referred by IB {v}." if v else "No IB referred the client.",
    "client.ib.chargebacks.count": lambda v: _count_sentence(
        _number(v), "The client had no chargeback.", "The client had {n} chargebacks."
    ),
    "event.amount": lambda v: f"The amount was {v}.",
    "event.reason": lambda v: f"The reason given: {v}." if v else None,
    "event.status": lambda v: f"The new status was {_value_words(v)}.",
}


def fact_sentence(key: str, value) -> str | None:
    """Return one sentence for one fact value; a generic one for a fact this module does not know."""
    base = key.split(":", 1)[0]
    if base in TECHNICAL_FACTS:
        return None
    if key.startswith("client.withdrawals.waiting_for:has:"):
        step = key.rsplit(":", 1)[1]
        return f"A withdrawal was waiting for the {step} step." if _is_true(value) else None
    if base in FACT_SENTENCES:
        return FACT_SENTENCES[base](value)
    return _sentence(f"{humanize(key)}: {_value_words(value)}")


def condition_facts(conditions) -> dict:
    """Return the values the conditions read (`key = value`) as a dict of strings."""
    read = {}
    for c in conditions or []:
        text = c.get("read") if isinstance(c, dict) else None
        if isinstance(text, str) and " = " in text:
            key, value = text.split(" = ", 1)
            read.setdefault(key.strip(), value.strip())
    return read


def timer_of(explanation: dict) -> dict | None:
    """Return the timer that fired this rule, its start and due times parsed, or None."""
    timer = explanation.get("timer") if isinstance(explanation, dict) else None
    if not isinstance(timer, dict) or not timer.get("due_at"):
        return None
    return {"id": timer.get("id"), "due_at": _parse(timer.get("due_at")), "started": _parse(timer.get("started"))}


def _parse(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return parse_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _missing_documents(facts: dict, delay: str | None, missing_now) -> tuple[str, set] | None:
    count = _number(facts.get("client.kyc.documents.missing_count"))
    recorded = facts.get("client.kyc.documents.missing")
    if not count and not recorded:
        return None  # the rule did not read missing documents: today's list is no reason
    names = recorded or missing_now or []
    count = count or len(names)
    what = _plural(count, "document")
    if names and len(names) == count:
        what += f": {document_list(names)}"
    elif names:
        what += f" (missing now: {document_list(names)})"
    lead = f"After {delay} the client still had not sent" if delay else "The client had not sent"
    return f"{lead} {what}.", {"client.kyc.documents.missing_count", "client.kyc.documents.missing"}


def _no_account(facts: dict, delay: str | None, _missing) -> tuple[str, set] | None:
    if (
        _number(facts.get("client.accounts.count")) != 0
        or _number(facts.get("client.deposits.completed.count")) is None
    ):
        return None
    after = f"{delay} after" if delay else "after"
    return (
        f"The client still had no trading account {after} the first completed deposit.",
        {"client.accounts.count", "client.deposits.completed.count"},
    )


SITUATIONS = (_missing_documents, _no_account)


def trigger_words(event_type: str | None) -> str:
    """Return what an event means in words: `client.registered` -> `the client registered`."""
    if not event_type:
        return "an event"
    return EVENT_WORDS.get(event_type, f"a {event_type} event")


def plain_words(
    explanation: dict | None,
    *,
    missing_now=None,
    trigger: dict | None = None,
    when: Callable[[datetime], str] | None = None,
) -> dict:
    """Return {"summary": [sentences], "timer": sentence or None} explaining a task.

    `missing_now` is the client's currently missing document types (names the documents
    when the explanation recorded only a count); `trigger` the first triggering event
    ({"type", "occurred_at"}); `when` formats a time for the reader.
    """
    exp = explanation if isinstance(explanation, dict) else {}
    facts = (
        {**condition_facts(exp.get("conditions")), **(exp.get("facts") or {})}
        if isinstance(exp.get("facts") or {}, dict)
        else condition_facts(exp.get("conditions"))
    )
    timer = timer_of(exp)
    started = _timer_start(timer, trigger)
    delay = duration_words(timer["due_at"] - started) if timer and started and timer["due_at"] else None
    summary, used = [], set()
    for situation in SITUATIONS:
        found = situation(facts, delay, missing_now)
        if found:
            summary.append(found[0])
            used |= found[1]
    summary += [s for k, v in facts.items() if k not in used for s in [fact_sentence(k, v)] if s]
    if not summary:
        summary.append(_fallback(exp))
    return {
        "summary": _unique(summary),
        "timer": _timer_sentence(timer, started, delay, trigger, when or _default_when),
    }


def _timer_start(timer: dict | None, trigger: dict | None) -> datetime | None:
    if timer is None:
        return None
    at = _parse((trigger or {}).get("occurred_at"))
    return at or timer["started"]


def _timer_sentence(timer, started, delay, trigger, when) -> str | None:
    if timer is None:
        return None
    what = trigger_words((trigger or {}).get("type"))
    start = f" on {when(started)}" if started else ""
    return (
        f"{_timer_name(delay)} started when {what}{start}; it fell due on {when(timer['due_at'])} and "
        f"the condition still held, so the rule acted."
    )


def _adjective(delay: str) -> str:
    """Return `7 days` as `7-day`, `24 hours` as `24-hour`."""
    number, _, unit = delay.partition(" ")
    return f"{number}-{unit.rstrip('s')}"


def _timer_name(delay: str | None) -> str:
    if not delay:
        return "A timer"
    return f"A timer of {delay}" if "." in delay else f"A {_adjective(delay)} timer"


def _default_when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _fallback(exp: dict) -> str:
    if exp.get("description"):
        return str(exp["description"])
    rule = exp.get("rule") or exp.get("rule_id")
    return f"Rule {rule} created this task." if rule else "No reason was recorded for this task."


def _unique(sentences: list[str]) -> list[str]:
    seen, out = set(), []
    for s in sentences:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
