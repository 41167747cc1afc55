"""Import every model module so that Base.metadata holds the whole schema.

Alembic's env.py and the test set-up import this module. A domain that adds
tables adds its models module to MODEL_MODULES.
"""

from engine.db import Base
from engine.plugins import import_all

MODEL_MODULES = [
    "engine.events.models",
    "engine.clients.models",
    "engine.tasks.models",
    "engine.users.models",
    "engine.audit.models",
    "engine.rules.models",
    "engine.deliveries.models",
    "engine.kyc.models",
    "engine.notifications.models",
    "engine.payments.models",
    "engine.accounts.models",
    "engine.ib.models",
    "engine.reports.models",
]


def load_all():
    """Import every existing model module and return the metadata."""
    import_all(MODEL_MODULES)
    return Base.metadata


metadata = load_all()
