"""The one list of domains: the core reads it for models, projections, facts, actions,
profile sections, CLI groups, configuration checks and web areas.

A domain is a package; the core imports `<package>.<kind>` for each kind a domain may
plug in (a missing module is skipped, see `engine.plugins`). A new domain is added here,
or, without editing this file, by an installed package's `fxcrm.domains` entry point or
by `FXCRM_DOMAINS=package[,package]` (each names a package whose `DOMAIN` is a Domain,
or is itself the domain's package).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

from engine.plugins import import_all

# The modules a domain may have; each kind's registry imports them (models first).
KINDS = ("models", "projections", "facts", "actions", "subjects", "search", "notify", "profile", "cli")


@dataclass(frozen=True)
class Domain:
    name: str
    package: str
    config_checks: tuple[str, ...] = ()  # modules with check_config(files) -> [Problem]
    blueprints: tuple[str, ...] = ()  # web modules with a blueprint `bp`
    evaluators: tuple[str, ...] = ()  # modules whose import registers a processing evaluator
    sweeps: tuple[str, ...] = ()  # "module:function(database)" the ticker runs each round


def _d(name: str, **modules: tuple[str, ...]) -> Domain:
    return Domain(name, f"engine.{name}", **modules)


# In this order: projections of one event type run in it, profile sections show in it.
BUILT_IN: tuple[Domain, ...] = (
    _d("events", blueprints=("web.webhooks",)),
    _d("clients", blueprints=("web.clients",)),
    _d("users", blueprints=("web.admin", "web.account", "web.errors", "web.two_factor")),
    _d(
        "rules",
        blueprints=("web.rules",),
        evaluators=("engine.rules.runtime", "engine.rules.subject_runtime"),
        # then the events about subjects other than clients (staff sign-ins) still pending
        sweeps=(
            "engine.rules.timers:fire_due",
            "engine.rules.schedule:run_due",
            "engine.processing.subjects:process_due",
        ),
    ),
    _d("deliveries", blueprints=("web.wires",), sweeps=("engine.deliveries.fetches:run_due",)),
    _d(
        "tasks",
        config_checks=("engine.tasks.sla",),
        blueprints=("web.inbox",),
        sweeps=("engine.tasks.service:expire_lapsed_leases",),
    ),
    _d("kyc", config_checks=("engine.kyc.policy",), sweeps=("engine.kyc.expiry:announce_due",)),
    _d("scores", config_checks=("engine.scores.policy",)),
    _d("documents", blueprints=("web.documents",)),
    _d("portal", blueprints=("web.portal",)),
    _d(
        "notifications",
        config_checks=("engine.notifications.templates",),
        sweeps=("engine.notifications.service:deliver_queued",),
    ),
    _d("payments", config_checks=("engine.payments.policy",), blueprints=("web.withdrawals",)),
    _d("accounts", config_checks=("engine.accounts.policy",)),
    _d("ib", config_checks=("engine.ib.config",), blueprints=("web.partner",)),
    _d("audit", blueprints=("web.audit",)),
    _d("reports", blueprints=("web.reports",)),
)

_extra: list[Domain] = []


def _as_domain(target: str | Domain | ModuleType) -> Domain:
    if isinstance(target, Domain):
        return target
    module = importlib.import_module(target) if isinstance(target, str) else target
    found = getattr(module, "DOMAIN", None)
    return found if isinstance(found, Domain) else Domain(module.__name__.rsplit(".", 1)[-1], module.__name__)


def register(target: str | Domain | ModuleType) -> Domain:
    """Add a domain (before the registries first load); return it."""
    domain = _as_domain(target)
    if all(d.package != domain.package for d in all_domains()):
        _extra.append(domain)
    return domain


def _discovered() -> list[Domain]:
    found = [_as_domain(ep.load()) for ep in entry_points(group="fxcrm.domains")]
    names = os.environ.get("FXCRM_DOMAINS", "")
    return found + [_as_domain(n.strip()) for n in names.split(",") if n.strip()]


def all_domains() -> tuple[Domain, ...]:
    """Return the built-in domains, then those added by entry points, FXCRM_DOMAINS or register()."""
    added: dict[str, Domain] = {}
    for domain in _discovered() + _extra:
        if all(d.package != domain.package for d in BUILT_IN):
            added.setdefault(domain.package, domain)
    return BUILT_IN + tuple(added.values())


def modules(kind: str) -> list[str]:
    """Return `<package>.<kind>` for every domain, in order."""
    return [f"{d.package}.{kind}" for d in all_domains()]


def import_each(kind: str) -> list[ModuleType]:
    """Import every domain's `kind` module that exists (registering what it declares)."""
    return import_all(modules(kind))


_imported: set[str] = set()


def import_each_once(kind: str) -> None:
    """`import_each(kind)` once per process: what a registry calls before it is read."""
    if kind not in _imported:
        import_each(kind)
        _imported.add(kind)


def config_check_modules() -> list[str]:
    return [m for d in all_domains() for m in d.config_checks]


def blueprint_modules() -> list[str]:
    return [m for d in all_domains() for m in d.blueprints]


def evaluator_modules() -> list[str]:
    return [m for d in all_domains() for m in d.evaluators]


def sweeps() -> list[str]:
    """Return every domain's sweeps ("module:function"), in domain order (timers first)."""
    return [s for d in all_domains() for s in d.sweeps]
