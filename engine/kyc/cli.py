"""`fxcrm kyc ...`: policy check, review decisions, manual status."""

from __future__ import annotations

import click

from engine import config as config_mod
from engine.cli_common import database as _database
from engine.cli_common import fail as _fail
from engine.db import unit_of_work

# Who may decide on KYC and change a client's status from the command line.
REVIEW_ROLES = ("admin", "compliance")


def _run(ref: str, actor: str, action) -> None:
    """Run `action(session, client, actor)` for a staff member allowed to review, in one unit of work."""
    from engine.clients import service as clients_service
    from engine.kyc.service import KycError
    from engine.users import service as users_service

    try:
        with unit_of_work(_database()) as session:
            user = users_service.get_by_email(session, actor)
            if user is None or not user.active or user.role not in REVIEW_ROLES:
                raise KycError(f"{actor} is not an active {' or '.join(REVIEW_ROLES)} user")
            client = clients_service.get_by_ref(session, ref)
            if client is None:
                raise KycError(f"no client {ref}")
            action(session, client, actor)
    except KycError as exc:
        _fail(str(exc))


ACTOR = click.option("--actor", required=True, help="Email of the staff member deciding.")


@click.group()
def kyc():
    """Onboarding and KYC review."""


@kyc.command("policy")
@click.option("--rules-dir", default=None, help="Default: FXCRM_RULES_DIR.")
def policy_check(rules_dir):
    """Check the onboarding policy file and show what it requires."""
    from engine.kyc import policy

    try:
        pol = policy.load(rules_dir or config_mod.load().rules_dir)
    except policy.PolicyError as exc:
        _fail(str(exc))
    for client_type in pol.required:
        click.echo(
            f"{client_type}: documents {', '.join(pol.documents_for(client_type, None))}; "
            f"fields {', '.join(pol.fields_for(client_type)) or '-'}"
        )
    for country, extra in sorted(pol.countries.items()):
        click.echo(f"  {country} adds {', '.join(extra['documents'])}")
    click.echo(f"reason codes: {', '.join(pol.reason_codes)}")


@kyc.command("set-status")
@click.argument("ref")
@click.argument("status")
@click.option("--reason", required=True)
@ACTOR
def set_status(ref, status, reason, actor):
    """Change a client's status by hand (audited)."""
    from engine.kyc import service

    _run(ref, actor, lambda s, c, a: service.change_status(s, client=c, status=status, reason=reason, actor=a))
    click.echo(f"{ref}: {status}")


@kyc.command("approve")
@click.argument("ref")
@click.option("--reason", default=None, help="Required when it overrides the provider's result.")
@click.option(
    "--override-reason",
    default=None,
    help="Required when required documents are missing or rejected (recorded as an override).",
)
@ACTOR
def approve(ref, reason, override_reason, actor):
    """Approve a client's KYC."""
    from engine.kyc import review

    _run(
        ref, actor, lambda s, c, a: review.approve(s, client=c, actor=a, reason=reason, override_reason=override_reason)
    )
    click.echo(f"{ref}: approved")


@kyc.command("reject")
@click.argument("ref")
@click.option("--code", "reason_code", required=True, help="A reason code from the policy.")
@click.option("--note", default=None)
@ACTOR
def reject(ref, reason_code, note, actor):
    """Reject a client with a reason code."""
    from engine.kyc import review

    _run(ref, actor, lambda s, c, a: review.reject(s, client=c, actor=a, reason_code=reason_code, note=note))
    click.echo(f"{ref}: rejected ({reason_code})")


@kyc.command("request")
@click.argument("ref")
@click.option("--documents", required=True, help="Comma-separated document types.")
@click.option("--message", required=True, help="What the client reads.")
@ACTOR
def request(ref, documents, message, actor):
    """Ask a client for documents again."""
    from engine.kyc import review

    types = [t.strip() for t in documents.split(",") if t.strip()]
    _run(
        ref,
        actor,
        lambda s, c, a: review.request_documents(s, client=c, actor=a, document_types=types, message=message),
    )
    click.echo(f"{ref}: requested {', '.join(types)}")


commands = [kyc]
