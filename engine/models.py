"""Import every model module so that Base.metadata holds the whole schema.

Alembic's env.py and the test set-up import this module. Every domain's
`models` module is imported, from the one list in `engine.domains`.
"""

from sqlalchemy import MetaData

from engine.db import Base
from engine.domains import import_each


def load_all() -> MetaData:
    """Import every existing model module and return the metadata."""
    import_each("models")
    return Base.metadata


metadata = load_all()
