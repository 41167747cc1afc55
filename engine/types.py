"""Column types shared by every domain's models."""

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB

from engine.db import Amount as Amount  # re-exported
from engine.db import UTCDateTime as UTCDateTime  # re-exported

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
