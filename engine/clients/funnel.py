"""The client's funnel stage, which only ever moves forward."""

from __future__ import annotations

from engine.clients.models import FUNNEL, Client


def advance(client: Client, stage: str) -> bool:
    """Move the client to `stage` if it is further along; return whether it moved."""
    current = FUNNEL.index(client.funnel_stage) if client.funnel_stage in FUNNEL else 0
    if FUNNEL.index(stage) <= current:
        return False
    client.funnel_stage = stage
    return True
