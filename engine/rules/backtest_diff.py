"""What rules left behind in a database, and how two databases differ in it (backtests).

An outcome is named the same way in the real database and in a replay: by the key of
the action that made it (its rule and trigger). A fired timer's id differs between the
two, so keys that name a timer name its own key instead (its rule and triggering event).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.rules import ir
from engine.rules.actions import COMPARED, Outcome, load_domain_actions
from engine.rules.models import RuleAction, RuleTimer

# Actions that change the client's state (a status, a risk category, a score).
_STATE_ACTIONS = ("set_status", "set_risk", "score")
_TIMER_ID = re.compile(r"timer[:-](\d+)")
Key = tuple[str, str, str]  # (client, kind, key)
Rules = tuple[Mapping[str, ir.Rule], Mapping[str, ir.Rule]]  # (live, candidate) by rule id


@dataclass(frozen=True)
class Difference:
    client: str
    kind: str
    rule: str | None
    trigger: str
    change: str  # added (candidate only), removed (live only), changed
    live: Mapping[str, object] | None
    candidate: Mapping[str, object] | None
    reason: str

    def line(self) -> str:
        return (
            f"{self.client} {self.kind} {self.rule or '-'} ({self._shown_trigger()}): {self.change}: "
            f"{self._fields()}; {self.reason}"
        )

    def _shown_trigger(self) -> str:
        """The trigger as people read it: the event, `+ timer` when a rule's delay fired it."""
        shown = re.sub(rf":{re.escape(self.rule or '')}:\d+$", "", self.trigger) if self.rule else self.trigger
        return re.sub(r"timer<delay:[^:>]+:([^>]+)>", r"\1 + timer", shown)

    def _fields(self) -> str:
        if self.live is None or self.candidate is None:
            shown = self.live if self.candidate is None else self.candidate
            return ", ".join(f"{k}={v}" for k, v in (shown or {}).items())
        return ", ".join(
            f"{k} {self.live.get(k)} -> {self.candidate.get(k)}"
            for k in self.candidate
            if self.live.get(k) != self.candidate.get(k)
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "client": self.client,
            "kind": self.kind,
            "rule": self.rule,
            "trigger": self.trigger,
            "change": self.change,
            "live": dict(self.live) if self.live is not None else None,
            "candidate": dict(self.candidate) if self.candidate is not None else None,
            "reason": self.reason,
        }


def _timer_names(session: Session) -> dict[str, str]:
    return {str(timer_id): key for timer_id, key in session.execute(select(RuleTimer.id, RuleTimer.key))}


def _stable(key: str, timers: dict[str, str]) -> str:
    """Replace timer ids in `key` by the timers' own keys (nested: a timer started by a timer)."""
    for _ in range(4):
        named = _TIMER_ID.sub(lambda m: f"timer<{timers.get(m[1], m[1])}>", key)
        if named == key:
            break
        key = named
    return key


def _states(session: Session) -> list[Outcome]:
    """Each client's status, KYC status and risk category, with the rules that set them."""
    setters: dict[str, set[str]] = {}
    for ref, rule in session.execute(
        select(RuleAction.client_ref, RuleAction.rule_id).where(RuleAction.action.in_(_STATE_ACTIONS)).distinct()
    ):
        setters.setdefault(ref, set()).add(rule)
    return [
        Outcome(
            c.ref,
            "client",
            "state",
            ", ".join(sorted(setters.get(c.ref, ()))) or None,
            {"status": c.status, "kyc_status": c.kyc_status, "risk": c.risk_category},
        )
        for c in session.scalars(select(Client).order_by(Client.ref))
    ]


def read_outcomes(session: Session) -> dict[Key, Outcome]:
    """Return everything rules left in the database, by (client, kind, stable key)."""
    load_domain_actions()  # the domains register their readers beside their actions
    timers = _timer_names(session)
    out: dict[Key, Outcome] = {}
    for reader in COMPARED.values():
        for outcome in reader(session):
            out[(outcome.client, outcome.kind, _stable(outcome.key, timers))] = outcome
    for outcome in _states(session):
        out[(outcome.client, outcome.kind, outcome.key)] = outcome
    return out


def _why(outcome: Outcome) -> str:
    """Why the outcome happened, from its explanation: the trigger and the facts read."""
    why = outcome.why or {}
    parts = [f"because {', '.join(why.get('event_ids') or ()) or 'no event'}"]
    if why.get("timer"):
        parts.append(f"timer due {why['timer'].get('due_at')}")
    facts = why.get("facts") or {}
    if facts:
        parts.append("with " + ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
    return " ".join(parts) if why else "set by rules: " + (outcome.rule or "none")


def _what(rule: ir.Rule) -> tuple[object, ...]:
    """What a rule does, without where it is written (its line moves when others are added)."""
    return (rule.events, rule.condition, rule.actions, rule.after, rule.unless, rule.priority)


def _rule_change(rule_id: str | None, rules: Rules) -> str:
    """Whether the candidate has the rule, changed or not, as the start of a reason."""
    live, candidate = rules
    if rule_id is None or "," in rule_id:
        return ""
    if rule_id not in candidate:
        return f"rule {rule_id} is not in the candidate; "
    if rule_id in live and _what(live[rule_id]) != _what(candidate[rule_id]):
        return f"rule {rule_id} changed; "
    if rule_id in live:
        return f"rule {rule_id} is the same: what it saw differs (an earlier difference); "
    return f"rule {rule_id} is new in the candidate; "


def _reason(change: str, live: Outcome | None, new: Outcome | None, rules: Rules) -> str:
    shown = new or live
    assert shown is not None
    start = _rule_change(shown.rule, rules) if shown.kind != "client" else ""
    if change == "removed" and live is not None:
        return f"{start}the candidate did not do it; live: {_why(live)}"
    assert new is not None
    told = f"{start}candidate: {_why(new)}"
    return told if live is None or _why(live) == _why(new) else f"{told}; live: {_why(live)}"


def _in_window(outcome: Outcome, key: str, window: set[str] | None) -> bool:
    """Whether a live outcome comes from the window's events (all do without a window)."""
    if window is None:
        return True
    if outcome.kind == "client":
        return False  # a state is the sum of the whole history: only compared without a window
    ids = (outcome.why or {}).get("event_ids") or ()
    return bool(set(ids) & window) if ids else any(i in key for i in window)


def compare(
    live: dict[Key, Outcome], replayed: dict[Key, Outcome], clients: set[str], window: set[str] | None, rules: Rules
) -> tuple[int, list[Difference]]:
    """Return how many outcomes are the same and each difference, ordered by client.

    `rules` are the rules that ran live (the active version's) and the candidate's, by id.
    """
    live = {k: o for k, o in live.items() if o.client in clients and _in_window(o, k[2], window)}
    if window is not None:
        replayed = {k: o for k, o in replayed.items() if o.kind != "client"}
    same, differences = 0, []
    for key in sorted(live.keys() | replayed.keys()):
        old, new = live.get(key), replayed.get(key)
        if old is not None and new is not None and dict(old.shown) == dict(new.shown):
            same += 1
            continue
        change = "removed" if new is None else "added" if old is None else "changed"
        shown = new or old
        assert shown is not None
        differences.append(
            Difference(
                key[0],
                key[1],
                shown.rule,
                key[2],
                change,
                dict(old.shown) if old else None,
                dict(new.shown) if new else None,
                _reason(change, old, new, rules),
            )
        )
    return same, differences
