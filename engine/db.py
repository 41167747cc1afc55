"""Database: engine and session factory, the unit of work, and the declarative Base."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import BigInteger, DateTime, create_engine, event, inspect, select, text, types
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from engine import config as config_mod
from engine.values import SCALE, as_utc, to_units

log = logging.getLogger(__name__)


class UTCDateTime(types.TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)


class Amount(types.TypeDecorator):
    """An exact Decimal stored as integer units of 10^-8, so SQL sums stay exact."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else to_units(value)

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(int(value)).scaleb(-SCALE)


class _ExactSum:
    """SQLite aggregate: sum integers in Python (no 64-bit overflow), answer as text."""

    def __init__(self):
        self.total = None

    def step(self, value):
        if value is not None:
            self.total = (self.total or 0) + int(value)

    def finalize(self):
        return None if self.total is None else str(self.total)


def _decimal_units(value):
    """SQLite function: a decimal (JSON text or number) as exact integer units of 10^-8."""
    if value is None or isinstance(value, float):
        return None if value is None else to_units(Decimal(repr(value)))
    try:
        return to_units(Decimal(str(value)))
    except (ArithmeticError, ValueError):  # not a decimal: no value
        return None


def register_sqlite_functions(dbapi_conn) -> None:
    """Add the SQL functions the models need to one SQLite connection."""
    dbapi_conn.create_aggregate("exact_sum", 1, _ExactSum)
    dbapi_conn.create_function("decimal_units", 1, _decimal_units, deterministic=True)


class money_sum(FunctionElement):
    """SUM of an Amount column that cannot overflow (PostgreSQL sums BIGINT as NUMERIC)."""

    type = Amount()
    inherit_cache = True
    name = "money_sum"


@compiles(money_sum)
def _money_sum_default(element, compiler, **kw):
    return "sum(%s)" % compiler.process(element.clauses, **kw)


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element, compiler, **kw):
    return "exact_sum(%s)" % compiler.process(element.clauses, **kw)


class Base(DeclarativeBase):
    """The declarative base of every model."""


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    register_sqlite_functions(dbapi_conn)


class WriteGate:
    """First come, first served turns at SQLite's single write lock, within one process.

    SQLite's busy handler polls with growing sleeps, so a thread that commits and
    begins again at once (the embedded processor) can starve a request waiting for
    the lock for seconds. Transactions of one process queue here instead; the lock
    itself still decides between processes. A transaction that waits longer than
    `timeout` goes on without its turn (SQLite's busy timeout then applies, as before).
    A thread inside `urgent()` (the processing of live work: a webhook's client) queues
    first, before bulk writers' turns, so a webhook's task waits for the transaction
    under way, not for every batch queued behind it.
    """

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: deque[int] = deque()
        self._owner: int | None = None  # the thread whose turn it is
        self._holders: set[int] = set()  # its connections in a transaction
        self._urgent: set[int] = set()  # threads whose turns go first

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Within this block, this thread's turns go before the turns already queued."""
        me = threading.get_ident()
        self._urgent.add(me)
        try:
            yield
        finally:
            self._urgent.discard(me)

    @property
    def waiting(self) -> int:
        """How many threads wait for a turn."""
        with self._cond:
            return len(self._queue)

    def acquire(self, holder: int) -> None:
        """Wait for this thread's turn, then hold it for connection `holder`."""
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                if me in self._urgent:
                    self._queue.appendleft(me)
                else:
                    self._queue.append(me)
                try:
                    turn = self._cond.wait_for(
                        lambda: self._owner is None and self._queue[0] == me, timeout=self.timeout
                    )
                finally:
                    self._queue.remove(me)
                    self._cond.notify_all()
                if not turn:
                    return
                self._owner = me
            self._holders.add(holder)

    def release(self, holder: int) -> None:
        """Connection `holder`'s transaction ended (from whichever thread)."""
        with self._cond:
            self._holders.discard(holder)
            if self._owner is not None and not self._holders:
                self._owner = None
                self._cond.notify_all()


def _sqlite_begin(gate: WriteGate):
    def begin(conn):
        # Take the write lock up front: two writers never deadlock on a lock upgrade.
        gate.acquire(id(conn))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release(id(conn))
            raise

    return begin


def make_engine(url: str) -> Engine:
    """Create an Engine for `url`, with WAL and immediate transactions on SQLite."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"isolation_level": None, "check_same_thread": False})
        gate = eng.fxcrm_write_gate = WriteGate()
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin(gate))
        # After the transaction ends, whichever way (commit, rollback, a closed connection).
        event.listen(eng, "commit", lambda conn: gate.release(id(conn)))
        event.listen(eng, "rollback", lambda conn: gate.release(id(conn)))
        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """One database: its engine, session factory and configuration."""

    def __init__(self, cfg: config_mod.Config):
        self.config = cfg
        self.engine = make_engine(cfg.database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Set by a serving web process in embedded mode (engine.processing.ticker.Background).
        self.background = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}


def get_database(cfg: config_mod.Config | None = None) -> Database:
    """Return the process-wide Database for `cfg` (default: from the environment)."""
    cfg = cfg or config_mod.load()
    key = cfg.database_url
    if key not in _databases or _databases[key].config != cfg:
        _databases[key] = Database(cfg)
    return _databases[key]


def forget_databases() -> None:
    """Dispose every cached Database (tests, and after a fork)."""
    for database in _databases.values():
        database.dispose()
    _databases.clear()


# ---- per-transaction read cache ------------------------------------------------------
# Processing asks the same questions once per event ("the client's open rule tasks",
# "its pending timers") while most events change none of those rows. The answers are
# kept in the session until a flush or a DML statement touches the tables they read.

_CACHE = "read_cache"


class _ReadCache:
    """The answers of one session, indexed by each table they read and the client they are
    about, so a write forgets the answers it may change without looking at the others
    (a group transaction holds answers for every client of the group)."""

    def __init__(self) -> None:
        self.answers: dict[tuple, tuple[frozenset[str], str | None, object]] = {}
        # table -> client_ref (None: about anyone) -> keys of the answers reading it
        self.readers: dict[str, dict[str | None, set[tuple]]] = {}

    def add(self, key: tuple, tables: frozenset[str], client_ref: str | None, value: object) -> None:
        self.answers[key] = (tables, client_ref, value)
        for table in tables:
            self.readers.setdefault(table, {}).setdefault(client_ref, set()).add(key)

    def forget(self, keys) -> None:
        for key in list(keys):
            tables, client_ref, _value = self.answers.pop(key)
            for table in tables:
                by_client = self.readers[table]
                by_client[client_ref].discard(key)
                if not by_client[client_ref]:
                    del by_client[client_ref]

    def forget_all(self) -> None:
        self.answers.clear()
        self.readers.clear()

    def readers_of(self, table: str | None, client_ref: str | None) -> set[tuple]:
        """The answers a write to `table`'s rows of `client_ref` may change (None: anyone's)."""
        by_client = self.readers.get(table) if table is not None else None  # no table: no reader
        if not by_client:
            return set()
        if client_ref is None:
            return set().union(*by_client.values())
        return by_client.get(client_ref, set()) | by_client.get(None, set())


def cached(
    session: Session, key: tuple, tables: frozenset[str], load: Callable[[], object], *, client_ref: str | None = None
):
    """Return `load()`, kept in this session until a write to one of `tables`.

    With `client_ref` the answer is about that client's rows only: a write to a row of
    another client (a row whose `client_ref` is another one) leaves it in place, so a
    group of clients processed in one transaction keeps each client's answers.
    """
    session.flush()  # what the query would have done: pending writes invalidate first
    cache = session.info.get(_CACHE)
    if cache is None:
        cache = session.info[_CACHE] = _ReadCache()
    if key not in cache.answers:
        cache.add(key, tables, client_ref, load())
    return cache.answers[key][2]


def _invalidate(session: Session, tables: set[str] | None, rows: set[tuple[str, str | None]] = frozenset()) -> None:
    """Forget entries reading `tables` (None: all), and those the changed `rows` (table,
    client_ref) may change: the row's client's and anyone's (a row without client_ref: all)."""
    cache: _ReadCache | None = session.info.get(_CACHE)
    if cache is None or not cache.answers:
        return
    if tables is None:
        cache.forget_all()
        return
    stale: set[tuple] = set()
    for table in tables:
        stale |= cache.readers_of(table, None)
    for table, row_ref in rows:
        stale |= cache.readers_of(table, row_ref)
    cache.forget(stale)


def _client_refs(obj) -> set[str | None]:
    """Return the client(s) a changed row belongs to, before and after the change
    ({None} when the row has no client_ref: it may be anyone's)."""
    if not hasattr(obj, "client_ref"):
        return {None}
    # The value before the change, as the attribute's history would give it (cheaper: this
    # runs for every row of every flush).
    before = inspect(obj).committed_state.get("client_ref", NO_VALUE)
    return {obj.client_ref} if before is NO_VALUE or before is NEVER_SET else {obj.client_ref, before}


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    cache = session.info.get(_CACHE)
    if cache is not None and cache.answers:
        rows = {
            (getattr(obj, "__tablename__", None), ref)
            for obj in (*session.new, *session.dirty, *session.deleted)
            for ref in _client_refs(obj)
        }
        _invalidate(session, set(), rows)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state) -> None:
    if state.is_select:
        return
    # An INSERT/UPDATE/DELETE changes rows of its own table only; one that says whose rows
    # (execution option `client_ref`) leaves other clients' answers in place. Any other
    # statement may touch anything: forget everything.
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table is None:
        _invalidate(state.session, None)
    else:
        _invalidate(state.session, set(), {(table, state.execution_options.get("client_ref"))})


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    # A rolled-back savepoint may have undone rows the cache holds: forget them
    # (a flush's own subtransaction does not count).
    if transaction.nested or transaction.parent is None:
        _invalidate(session, None)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work around `session` has committed."""
    session.info.setdefault("after_commit", []).append(callback)


def lock_name(session: Session, namespace: str, name: str) -> None:
    """Hold, until the transaction ends, a lock on `name` in `namespace` (a referral code):
    transactions that decide on the same name one after another see each other's work,
    when no row exists yet to lock. PostgreSQL: a transaction-level advisory lock on a
    64-bit hash of both; SQLite: nothing (one writer at a time holds the whole database)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{namespace}\0{name}".encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)})


def after_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` if the unit of work around `session` rolls back: it undoes what the
    work did outside the database (a document's bytes put in the file store)."""
    session.info.setdefault("after_rollback", []).append(callback)


@contextmanager
def unit_of_work(database: Database) -> Iterator[Session]:
    """Yield a session; commit at the end, roll back on error (then run the after-rollback
    hooks), or run the after-commit hooks."""
    session = database.sessions()
    session.info["database"] = database
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        _run_hooks(session.info.pop("after_rollback", []), "after-rollback")
        raise
    finally:
        hooks = session.info.pop("after_commit", [])
        session.info.pop("after_rollback", None)
        committed = not session.in_transaction()
        session.close()
    if committed:
        _run_hooks(hooks, "after-commit")


def _run_hooks(hooks: list[Callable[[], None]], when: str) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # a hook failing must not undo or hide the commit (or the error)
            log.exception("%s hook failed", when)


# ---- strong references for a processing transaction ---------------------------------
# The session's identity map holds its clean objects weakly: a row a projection loaded
# for one event is garbage-collected before the next event of the same client asks for
# it again, and `session.get` goes back to the database. Processing keeps every object
# of its transaction alive (SQLAlchemy's documented "strong reference" recipe), so
# primary-key lookups are answered from memory for the whole group. The objects go with
# the session at the end of the unit of work.

_STRONG = "strong_refs"


def keep_loaded_objects(session: Session) -> None:
    """Hold every object `session` loads or adds until the session closes."""
    session.info[_STRONG] = set()


@event.listens_for(Session, "pending_to_persistent")
@event.listens_for(Session, "deleted_to_persistent")
@event.listens_for(Session, "detached_to_persistent")
@event.listens_for(Session, "loaded_as_persistent")
def _strong_reference(session: Session, instance) -> None:
    kept = session.info.get(_STRONG)
    if kept is not None:
        kept.add(instance)


@event.listens_for(Session, "persistent_to_detached")
@event.listens_for(Session, "persistent_to_deleted")
@event.listens_for(Session, "persistent_to_transient")
def _drop_reference(session: Session, instance) -> None:
    kept = session.info.get(_STRONG)
    if kept is not None:
        kept.discard(instance)


def insert_on_conflict(session: Session, model: type):
    """An INSERT into `model` that takes `on_conflict_do_nothing`/`on_conflict_do_update`, in
    the dialect of the session's database (PostgreSQL, else SQLite: both spell it alike)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def by_unique(session: Session, model: type, column: str, value: object):
    """Return the `model` row whose unique `column` is `value`, or None.

    Processing looks the same row up by its key several times per event; once its id is
    known in this session the row comes from the identity map (`session.get`, no query
    while it is loaded, see keep_loaded_objects). A row rolled back with a savepoint is
    gone from the map and the database alike, and is looked up again.
    """
    ids = session.info.setdefault(("row_ids", model.__name__, column), {})
    known = ids.get(value)
    if known is not None:
        row = session.get(model, known)
        if row is not None and getattr(row, column) == value:
            return row
    row = session.scalar(select(model).where(getattr(model, column) == value))
    if row is not None:
        ids[value] = row.id
    return row
