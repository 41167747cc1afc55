"""Subjects other than clients that events are about and rules decide on (a staff member).

Most events are about a client: stored with the client's ref, processed in order under
a lock on the client's row, and read by rules through `client.*` facts. A domain may
declare another kind of subject with `@subject_kind(name)` on `lock(session, ref)`: its
events (catalogue types whose `subject` is `name`) are stored with the subject's ref
(`<name>:<id>`) and `events.subject = name`, processed by `engine.processing.subjects`
in order under that lock, and its rules read `<name>.*` facts (`engine.facts`,
`@fact(..., subject=name)`). The core names no kind; the users domain declares `staff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

CLIENT = "client"  # the subject of every event whose type declares no other


@dataclass(frozen=True)
class SubjectKind:
    name: str  # "staff": its events' `subject`, its facts' prefix, its refs' prefix
    # lock(session, ref) -> the subject (it has `.ref` and `.subject_kind`), locked for the
    # transaction (SELECT ... FOR UPDATE), or None when no such subject exists
    lock: Callable[[Any, str], Any]
    # for rule tests: make(session) -> the ref of the tests' subject, made at the first call
    make_for_test: Callable[[Any], str]
    noun: str = ""  # how messages name one: "staff member"
    doc: str = ""


SUBJECTS: dict[str, SubjectKind] = {}


def subject_kind(name: str, *, make_for_test: Callable[[Any], str], noun: str = "", doc: str = ""):
    """Register the decorated `lock(session, ref)` as the lock of subjects of kind `name`."""
    if name == CLIENT or not name.isidentifier() or not name.islower():
        raise ValueError(f"a subject kind is a lower-case name other than {CLIENT!r}: {name!r}")

    def register(lock):
        SUBJECTS[name] = SubjectKind(name, lock, make_for_test, noun or name, doc)
        return lock

    return register


def noun(kind: str) -> str:
    """Return how messages name one subject of `kind`: "client", "staff member"."""
    found = SUBJECTS.get(kind)
    return found.noun if found is not None else kind


def ref_of(kind: str, ident: object) -> str:
    """Return the ref events of a `kind` subject are stored with: `staff:42`."""
    return f"{kind}:{ident}"


def ident_of(kind: str, ref: str) -> str | None:
    """Return the id in a `kind` ref (`staff:42` -> `42`), or None when it is not one."""
    prefix = f"{kind}:"
    return ref[len(prefix) :] if ref.startswith(prefix) else None


def load_subjects() -> dict[str, SubjectKind]:
    """Return the registry (the domains declare their kinds in their facts modules)."""
    from engine.facts import load_domain_facts

    load_domain_facts()
    return SUBJECTS
