"""The event catalogue: every canonical event type and the fields of its `data`.

This is the one place the event types are declared. The marshmallow schemas
(`engine.events.schemas`) and the rule validator (`engine.rules`) are both built
from it, so a field the rules may read is always a field the API accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.clients.models import STATUSES as CLIENT_STATUS_CHOICES

# Field kinds. `decimal` is a decimal string (lots, balances); `amount` is a decimal
# string whose currency is the sibling field `currency`; `datetime` is ISO-8601 with
# an offset; `enum` takes one of `choices`; `object` is a JSON object; `list` a list
# of strings.
KINDS = (
    "string",
    "decimal",
    "amount",
    "currency",
    "country",
    "datetime",
    "enum",
    "object",
    "list",
    "integer",
    "boolean",
)


@dataclass(frozen=True)
class Field:
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    doc: str = ""


def f(kind: str, required: bool = True, choices: tuple[str, ...] = (), doc: str = "") -> Field:
    """Declare one data field."""
    assert kind in KINDS, kind
    return Field(kind, required, tuple(choices), doc)


def opt(kind: str, choices: tuple[str, ...] = (), doc: str = "") -> Field:
    """Declare one optional data field."""
    return f(kind, False, choices, doc)


DOCUMENT_TYPES = ("id", "proof_of_address", "selfie", "incorporation", "ubo_declaration", "source_of_funds")
CLIENT_TYPES = ("individual", "corporate")
KYC_RESULTS = ("approved", "rejected", "retry")
ACCOUNT_STATUSES = ("active", "locked", "disabled")
SIDES = ("buy", "sell")
CLIENT_STATUSES = CLIENT_STATUS_CHOICES
LOGIN_FAILURES = ("wrong_password", "locked")
STAFF_LOGIN_FAILURES = ("wrong_password", "locked", "wrong_code")
TASK_OUTCOMES = ("done", "dismissed")


@dataclass(frozen=True)
class EventType:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)
    doc: str = ""
    internal: bool = False
    # What the event is about: a client (its ref in `client`), or another kind of subject
    # (engine.subjects): its rules read that subject's facts and take actions fit for it.
    subject: str = "client"


def _deposit(status: str) -> EventType:
    return EventType(
        f"payment.deposit_{status}",
        {
            "payment_id": f("string"),
            "amount": f("amount"),
            "currency": f("currency"),
            "method": f("string"),
            "provider": f("string"),
            "reference": opt("string"),
            "reason_code": opt("string"),
            "reason": opt("string"),
            "account_id": opt("string", doc="trading account to fund on completion"),
            "on_platform": opt(
                "boolean",
                doc="the money arrived on the trading account "
                "`account_id` itself (a platform balance operation): it is "
                "counted there, never in the wallet",
            ),
        },
        doc=f"A deposit was {status.replace('_', ' ')}.",
    )


def _withdrawal(status: str) -> EventType:
    return EventType(
        f"payment.withdrawal_{status}",
        {
            "withdrawal_id": f("string"),
            "amount": f("amount"),
            "currency": f("currency"),
            "method": opt("string"),
            "reason": opt("string"),
            "account_id": opt("string"),
        },
        doc=f"A withdrawal was {status}.",
    )


def _transfer(status: str) -> EventType:
    return EventType(
        f"wallet.transfer_{status}",
        {
            "transfer_id": f("string"),
            "from": f("string", doc="`wallet` or a trading account id"),
            "to": f("string", doc="`wallet` or a trading account id"),
            "amount": f("amount"),
            "currency": f("currency"),
            "reason": opt("string"),
        },
        doc=f"A wallet transfer {status}.",
    )


# Field groups several event types share (the same fields mean the same thing in each).
DOCUMENT = {"document_id": f("string"), "document_type": f("enum", choices=DOCUMENT_TYPES)}
POSITION = {
    "account_id": f("string"),
    "ticket": f("string"),
    "symbol": f("string"),
    "side": f("enum", choices=SIDES),
    "volume_lots": f("decimal"),
    "open_time": f("datetime"),
}
PORTAL_EMAIL = {"email": f("string", doc="the portal login's e-mail")}


_TYPES: list[EventType] = [
    EventType(
        "client.registered",
        {
            "email": f("string"),
            "country": f("country"),
            "client_type": f("enum", choices=CLIENT_TYPES),
            "first_name": opt("string"),
            "last_name": opt("string"),
            "phone": opt("string", doc="as the client gave it; searched by its digits"),
            "referral_code": opt("string"),
            "declared_income": opt("amount", doc="yearly income the client declared"),
            "currency": opt("currency", doc="currency of declared_income"),
            "auto_funding": opt("boolean", doc="fund the trading account on deposit"),
            "source": opt("string", doc="marketing source or campaign"),
        },
        doc="A new client registered.",
    ),
    EventType(
        "client.profile_updated",
        {
            "fields": f("object", doc="the changed profile fields"),
        },
        doc="The client changed profile fields.",
    ),
    EventType(
        "kyc.document_submitted",
        {
            **DOCUMENT,
            "expires_at": opt("datetime"),
            "received_via": opt(
                "enum",
                choices=("portal", "staff", "sumsub", "onfido"),
                doc="where the file came in, when the document store holds it",
            ),
        },
        doc="The client uploaded a document.",
    ),
    EventType(
        "kyc.document_rejected",
        {
            **DOCUMENT,
            "reason": f("string"),
        },
        doc="A document was rejected.",
    ),
    EventType(
        "kyc.document_approved",
        {
            **DOCUMENT,
            "reason": opt("string", doc="why, when the reviewer gave one"),
        },
        doc="A reviewer approved one document (the client's KYC decision is separate).",
    ),
    EventType(
        "kyc.review_completed",
        {
            "provider": f("string"),
            "result": f("enum", choices=KYC_RESULTS),
            "labels": opt("list"),
            "reason": opt("string"),
            "comment": opt("string", doc="text that may be shown to the client"),
        },
        doc="A KYC provider (or a reviewer) finished a review.",
    ),
    EventType(
        "kyc.review_pending",
        {
            "provider": f("string"),
        },
        doc="A KYC provider started reviewing the client.",
    ),
    EventType(
        "kyc.on_hold",
        {
            "provider": f("string"),
            "reason": opt("string"),
        },
        doc="A KYC provider put the review on hold.",
    ),
    EventType(
        "kyc.reset",
        {
            "provider": f("string"),
            "reason": opt("string"),
        },
        doc="A KYC provider reset the applicant: its documents no longer count and KYC "
        "starts again (earlier results stay in the history).",
    ),
    _deposit("requested"),
    _deposit("completed"),
    _deposit("failed"),
    _deposit("refunded"),
    _deposit("charged_back"),
    _withdrawal("requested"),
    _withdrawal("approved"),
    _withdrawal("rejected"),
    _withdrawal("paid"),
    _withdrawal("failed"),
    _transfer("completed"),
    _transfer("failed"),
    EventType(
        "account.created",
        {
            "account_id": f("string"),
            "platform": f("string"),
            "account_type": f("string"),
            "currency": f("currency"),
            "leverage": f("integer"),
        },
        doc="A trading account was opened.",
    ),
    EventType(
        "account.status_changed",
        {
            "account_id": f("string"),
            "status": f("enum", choices=ACCOUNT_STATUSES),
            "reason": opt("string"),
        },
        doc="A trading account was locked, disabled or re-activated.",
    ),
    EventType(
        "account.balance_updated",
        {
            "account_id": f("string"),
            "balance": f("decimal"),
            "equity": f("decimal"),
        },
        doc="A balance and equity snapshot of a trading account.",
    ),
    EventType(
        "trade.opened",
        {
            **POSITION,
            "commission": opt("decimal", doc="charged when opening (MT5 Commission + Fee)"),
            "currency": opt("currency", doc="currency of commission"),
        },
        doc="A position was opened.",
    ),
    EventType(
        "trade.closed",
        {
            **POSITION,
            "close_time": f("datetime"),
            "profit": f("decimal"),
            "commission": opt("decimal"),
            "swap": opt("decimal"),
            "currency": opt("currency", doc="currency of profit, commission and swap"),
        },
        doc="A position was closed.",
    ),
    EventType(
        "ib.registered",
        {
            "ib_id": f("string"),
            "referral_code": f("string"),
            "parent_ib": opt("string"),
        },
        doc="A client became an introducing broker.",
    ),
    EventType(
        "ib.referral_attributed",
        {
            "ib_id": f("string"),
            "reason": opt("string"),
        },
        doc="The client was attributed to an IB after registration.",
    ),
    EventType(
        "kyc.document_expiring",
        {
            **DOCUMENT,
            "expires_at": f("datetime"),
        },
        doc="A usable document's expiry date is near (fxcrm's own notice, EXPIRY_NOTICE before it; internal).",
        internal=True,
    ),
    # Events fxcrm itself records (source `fxcrm.app`), in the transaction of the change.
    EventType(
        "client.logged_in",
        {
            **PORTAL_EMAIL,
        },
        doc="The client signed in to the portal (recorded by fxcrm).",
    ),
    EventType(
        "client.login_failed",
        {
            **PORTAL_EMAIL,
            "reason": f(
                "enum", choices=LOGIN_FAILURES, doc="`locked`: tried while locked after too many wrong passwords"
            ),
        },
        doc="A portal sign-in of the client failed (recorded by fxcrm; an unknown e-mail "
        "belongs to no client and records nothing).",
    ),
    EventType(
        "client.status_changed",
        {
            "status": f("enum", choices=CLIENT_STATUSES, doc="the new status"),
            "previous_status": f("enum", choices=CLIENT_STATUSES),
            "actor": f("string", doc="the staff member (e-mail) who changed it"),
            "reason": f("string"),
        },
        doc="A person changed the client's status (a KYC decision, an override, a manual "
        "change; recorded by fxcrm). Changes made by rules are not recorded as events.",
    ),
    EventType(
        "task.closed",
        {
            "task_id": f("string"),
            "queue": f("string"),
            "outcome": f("enum", choices=TASK_OUTCOMES, doc="`done` (resolved) or `dismissed`"),
            "resolution": f("string", doc="the resolution or reason the person gave"),
            "actor": f("string", doc="who closed it"),
            "rule_id": opt("string", doc="the rule that opened the task, if a rule did"),
        },
        doc="A person resolved or dismissed a task about the client (recorded by fxcrm).",
    ),
    # Staff sign-ins: about a staff member (subject `staff`, ref `staff:<user id>`), not a
    # client; fxcrm records them itself (engine.users.events). Nothing secret: no password,
    # no user agent; the IP address the attempt came from.
    EventType(
        "staff.logged_in",
        {
            "username": f("string", doc="the staff member's e-mail"),
            "ip": opt("string", doc="the address the sign-in came from"),
            "new_ip": f(
                "boolean",
                doc="earlier sign-ins of this staff member exist, none from this address (false on the first)",
            ),
        },
        doc="A staff member signed in to the back office (the password, and the code when "
        "two-factor is on, were right; recorded by fxcrm).",
        internal=True,
        subject="staff",
    ),
    EventType(
        "staff.login_failed",
        {
            "username": f("string", doc="the staff member's e-mail"),
            "ip": opt("string", doc="the address the attempt came from"),
            "reason": f(
                "enum",
                choices=STAFF_LOGIN_FAILURES,
                doc="`locked`: tried while locked after repeated failures; `wrong_code`: a wrong two-factor code",
            ),
        },
        doc="A back-office sign-in of a staff member failed (recorded by fxcrm; an unknown or "
        "inactive e-mail belongs to no staff member and records nothing, the audit keeps it).",
        internal=True,
        subject="staff",
    ),
    EventType(
        "timer.fired",
        {
            "timer_id": f("string"),
            "name": f("string"),
            "rule_id": opt("string"),
        },
        doc="A durable timer fell due (internal).",
        internal=True,
    ),
]

EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _TYPES}


def get(name: str) -> EventType | None:
    """Return the event type called `name`, or None."""
    return EVENT_TYPES.get(name)
