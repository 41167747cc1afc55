"""A test plugin: every failed deposit writes one audit row and one task, slowly.

The audit row has no unique key, so counting audit rows shows whether an event's
effects were applied exactly once, even across killed workers.
"""

import time

from engine.audit import service as audit_service
from engine.projections import projection
from engine.tasks import service as tasks_service


@projection("payment.deposit_failed")
def audit_and_task(session, event, client):
    """Record the event in the audit trail and open a task for it."""
    audit_service.record(
        session, actor="test-plugin", action="deposit_failed_seen", target_type="event", target_id=str(event.seq)
    )
    tasks_service.create(
        session, queue="finance", title="failed deposit", client_ref=client.ref, trigger_key=f"plugin:{event.seq}"
    )
    time.sleep(0.003)  # make a batch last long enough to be killed in the middle
