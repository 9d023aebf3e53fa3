"""The durable job store (SQLAlchemy 2): every accepted job with its request, its decision and what happened.

The schema is created and upgraded by Alembic (``migrations/``) when the store opens, so a service started
on an older database migrates it first. SQLite runs in WAL mode (readers never block the writer);
PostgreSQL is used by URL. A job's ``Idempotency-Key`` is unique per key: a retried request returns the
job already stored instead of deciding twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from greenci.errors import InputError

#: scheduled -> (dispatched ->) running -> completed; scheduled -> cancelled; scheduled -> failed (dispatch gave up)
STATUSES = ("scheduled", "dispatched", "running", "completed", "cancelled", "failed")

metadata = sa.MetaData()
jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), unique=True, nullable=True),
    sa.Column("repo", sa.String(200), nullable=False, index=True),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("job_name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("start_s", sa.BigInteger, nullable=False),
    sa.Column("submitted_s", sa.BigInteger, nullable=False),
    sa.Column("created_s", sa.Float, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("started_s", sa.Float, nullable=True),
    sa.Column("completed_s", sa.Float, nullable=True),
    sa.Column("runtime_s", sa.Float, nullable=True),
    sa.Column("measured_kwh", sa.Float, nullable=True),
    sa.Column("actual_g", sa.Float, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("dispatched_s", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
    sa.Column("end_s", sa.BigInteger, nullable=True),
    sa.Column("priority", sa.String(64), nullable=False, server_default="normal"),
    sa.Column("expected_g", sa.Float, nullable=True),
    sa.Column("saving_g", sa.Float, nullable=True),
)
sa.Index("ix_jobs_tenant", jobs.c.tenant, jobs.c.status)
sa.Index("ix_jobs_region_start", jobs.c.region, jobs.c.start_s)
sa.Index("ix_jobs_tenant_created", jobs.c.tenant, jobs.c.created_s)
#: the dispatcher's poll: only scheduled jobs with a target (most have none), by start
_DISPATCHABLE = sa.text("status = 'scheduled' AND target IS NOT NULL")
sa.Index("ix_jobs_dispatch_due", jobs.c.start_s, sqlite_where=_DISPATCHABLE, postgresql_where=_DISPATCHABLE)
_PICK_DUE_SQLITE = ("SELECT id FROM jobs INDEXED BY ix_jobs_dispatch_due WHERE status = 'scheduled' AND target IS NOT "
                    "NULL AND start_s <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY start_s LIMIT ?")
tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_s", sa.Float, nullable=False),
    sa.Column("revoked_s", sa.Float, nullable=True),
)


@dataclass(frozen=True)
class StoredJob:
    """One row: the request and decision as documents, and what happened since."""

    id: str
    repo: str
    workflow: str
    job_name: str
    status: str
    region: str
    start_s: int
    submitted_s: int
    request: dict[str, Any]
    decision: dict[str, Any]
    started_s: float | None
    completed_s: float | None
    runtime_s: float | None
    measured_kwh: float | None
    actual_g: float | None
    outcome: dict[str, Any] | None
    target: dict[str, Any] | None = None
    attempts: int = 0
    dispatched_s: float | None = None
    last_error: str | None = None
    tenant: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "status": self.status, "repo": self.repo,
                "workflow": self.workflow, "job": self.job_name, "request": self.request, "decision": self.decision,
                "dispatch": None if self.target is None else {
                    "target": self.target["type"], "attempts": self.attempts,
                    "dispatched_at": _iso(self.dispatched_s), "last_error": self.last_error},
                "started_at": _iso(self.started_s), "completed_at": _iso(self.completed_s),
                "runtime_s": self.runtime_s, "measured_kwh": self.measured_kwh, "actual": self.outcome}


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _row(r: Any) -> StoredJob:
    return StoredJob(r.id, r.repo, r.workflow, r.job_name, r.status, r.region, int(r.start_s), int(r.submitted_s),
                     json.loads(r.request), json.loads(r.decision), r.started_s, r.completed_s, r.runtime_s,
                     r.measured_kwh, r.actual_g, json.loads(r.outcome) if r.outcome else None,
                     json.loads(r.target) if r.target else None, int(r.attempts or 0), r.dispatched_s, r.last_error,
                     r.tenant)


@dataclass(frozen=True)
class NewJob:
    """A job about to be stored: its row, and the record :meth:`JobStore.add_many` answers once it is."""

    row: dict[str, Any]
    job: StoredJob

    @classmethod
    def build(cls, *, key: str | None, repo: str, workflow: str, job_name: str, status: str, region: str,
              start_s: int, submitted_s: int, request: dict[str, Any], decision: dict[str, Any],
              job_id: str | None = None, target: dict[str, Any] | None = None, tenant: str = "default",
              end_s: int | None = None, priority: str = "normal") -> NewJob:
        job_id = job_id or new_job_id()
        row = dict(id=job_id, tenant=tenant, end_s=end_s, priority=priority,
                   expected_g=_num(decision.get("expected_g")), saving_g=_num(decision.get("saving_g")),
                   idempotency_key=_stored_key(tenant, key) if key else None,  # keys are unique per tenant
                   repo=repo, workflow=workflow, job_name=job_name, status=status, region=region, start_s=start_s,
                   submitted_s=submitted_s, created_s=time.time(), request=json.dumps(request),
                   decision=json.dumps(decision), target=json.dumps(target) if target is not None else None,
                   started_s=None, completed_s=None, runtime_s=None, measured_kwh=None, actual_g=None,
                   outcome=None, attempts=0, lease_owner=None, lease_until=None, dispatched_s=None,
                   last_error=None)
        job = StoredJob(job_id, repo, workflow, job_name, status, region, int(start_s), int(submitted_s), request,
                        decision, None, None, None, None, None, None, target, 0, None, None, tenant)
        return cls(row, job)


class JobStore:
    """Jobs in a SQL database; opening it creates or migrates the schema."""

    def __init__(self, url: str, *, background_checkpoints: bool = False) -> None:
        """``background_checkpoints``: SQLite's commits never copy the write-ahead log into the database
        file; whoever opened the store calls :meth:`checkpoint` from a thread of its own (the service does,
        see :mod:`greenci.service.checkpoints`). Without it, a commit that fills the log past 1,000 pages
        does the copy and its flush itself."""
        self.token_generation = 0  # bumped when a token is revoked through this store (see auth.TokenCache)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True)
        self._write_lock: Path | None = None
        self._lock_fd: int | None = None  # the lock file, opened once (see writing)
        self._lock_threads = threading.Lock()
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if background_checkpoints:
                event.listen(self.engine, "connect", _no_autocheckpoint)
            database = self.engine.url.database
            if database and database != ":memory:":
                self._write_lock = Path(database + ".write-lock")
        migrate(self.engine)
        self._insert_rows = _InsertRows(self.engine.dialect)

    def close(self) -> None:
        self.engine.dispose()
        with self._lock_threads:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    @property
    def checkpoints(self) -> bool:
        """Whether the store has a write-ahead log to checkpoint (SQLite in a file)."""
        return self._write_lock is not None

    def checkpoint(self, restart_after: int = 4000) -> tuple[int, int] | None:
        """Copy what it can of SQLite's write-ahead log into the database file, without waiting for any
        writer or reader (a ``PASSIVE`` checkpoint): ``(frames in the log, frames copied)``, or None when
        another checkpoint was running or the store is not a SQLite file. Writers go on meanwhile: the
        copy and its flush hold no lock a commit needs.

        The log starts over from its beginning only at a commit that finds it wholly copied, and one that
        began during the copy appends to it instead. Under steady writes with reads beside them that
        happened too seldom, and the log grew by megabytes a minute; so once it holds ``restart_after``
        frames or more, the frames committed during the copy (a batch or two) are copied again with no
        commit in progress (under :meth:`writing`, a millisecond or so), and the next commit restarts it.
        """
        if not self.checkpoints:
            return None
        with self.engine.connect() as c:
            busy, log, copied = c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if not busy and log >= restart_after:
                with self.writing():
                    busy, log, copied = c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return None if busy else (int(log), int(copied))

    def add_many(self, new: Sequence[NewJob]) -> list[tuple[StoredJob, bool]]:
        """Store new jobs in one transaction (one commit: one disk flush for all of them), in order.

        A job whose Idempotency-Key is already stored (earlier, or by a job before it in ``new``) is not
        stored again: its entry is ``(the stored job, False)``. Any other failure stores none of them.
        """
        with self.writing(), self.engine.begin() as c:
            return self.insert_many_in(c, new)

    def insert_many_in(self, c: sa.Connection, new: Sequence[NewJob]) -> list[tuple[StoredJob, bool]]:
        """:meth:`add_many` in the transaction of ``c``: one statement for the rows.

        Every row is inserted unless its key is stored already (earlier, or by a row before it). When some
        were not, the keys are read back: a key stored under another id is a retry of that job.
        """
        if not new:
            return []
        if self._insert_rows(c, [n.row for n in new]) == len(new):
            return [(n.job, True) for n in new]
        keys = [n.row["idempotency_key"] for n in new if n.row["idempotency_key"] is not None]
        owner: dict[str, str] = {}
        for chunk in range(0, len(keys), 500):
            owner.update(c.execute(sa.select(jobs.c.idempotency_key, jobs.c.id).where(
                jobs.c.idempotency_key.in_(keys[chunk:chunk + 500]))).all())
        out: list[tuple[StoredJob, bool]] = []
        for n in new:
            key = n.row["idempotency_key"]
            if key is None or owner.get(key) == n.job.id:
                out.append((n.job, True))
                continue
            r = c.execute(jobs.select().where(jobs.c.id == owner[key])).first()
            if r is None:  # pragma: no cover - the key's row was read in this transaction
                raise RuntimeError("an Idempotency-Key conflicted but its job is not stored")
            out.append((_row(r), False))
        return out

    @contextmanager
    def writing(self) -> Iterator[None]:
        """SQLite: the writers of the processes sharing the file take turns on an exclusive ``flock``.

        SQLite lets one writer in at a time and makes the others poll (``busy_timeout``), sleeping up to
        100 ms between tries; a waiter here sleeps in the kernel and wakes the moment the lock is free. The
        lock file stays open (opening it per write cost as much as the lock); the threads of this process
        take turns on a thread lock first, since a ``flock`` does not exclude holders of the same file.
        """
        if self._write_lock is None:
            yield
            return
        import fcntl

        with self._lock_threads:
            if self._lock_fd is None:
                self._lock_fd = os.open(self._write_lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def get(self, job_id: str, tenant: str | None = None) -> StoredJob | None:
        """The job, or None; with ``tenant``, only that tenant's job (another tenant's is None)."""
        q = jobs.select().where(jobs.c.id == job_id)
        if tenant is not None:
            q = q.where(jobs.c.tenant == tenant)
        with self.engine.connect() as c:
            r = c.execute(q).first()
        return _row(r) if r else None

    def list(self, *, status: str | None = None, repo: str | None = None, limit: int = 100,
             tenant: str | None = None) -> list[StoredJob]:
        q = jobs.select().order_by(jobs.c.created_s.desc()).limit(limit)
        if tenant is not None:
            q = q.where(jobs.c.tenant == tenant)
        if status is not None:
            if status not in STATUSES:
                raise InputError(f"status {status!r} is unknown: use one of {', '.join(STATUSES)}", field="status")
            q = q.where(jobs.c.status == status)
        if repo is not None:
            q = q.where(jobs.c.repo == repo)
        with self.engine.connect() as c:
            return [_row(r) for r in c.execute(q)]

    def transition(self, job_id: str, to: str, allowed_from: tuple[str, ...], tenant: str | None = None,
                   **values: Any) -> StoredJob | None:
        """Move a job to ``to`` when it is in one of ``allowed_from``; None when it is not (or absent)."""
        with self.writing(), self.engine.begin() as c:
            return self.transition_in(c, job_id, to, allowed_from, tenant, **values)

    def transition_in(self, c: sa.Connection, job_id: str, to: str, allowed_from: tuple[str, ...],
                      tenant: str | None = None, **values: Any) -> StoredJob | None:
        """:meth:`transition` in the transaction of ``c``."""
        if "outcome" in values and values["outcome"] is not None:
            values["outcome"] = json.dumps(values["outcome"])
        where = [jobs.c.id == job_id, jobs.c.status.in_(allowed_from)]
        if tenant is not None:
            where.append(jobs.c.tenant == tenant)
        if not c.execute(jobs.update().where(*where).values(status=to, **values)).rowcount:
            return None
        r = c.execute(jobs.select().where(jobs.c.id == job_id)).first()
        return _row(r) if r else None

    def set_target_in(self, c: sa.Connection, job_id: str, target: dict[str, Any],
                      tenant: str | None = None) -> StoredJob | None:
        """Give a scheduled job without a target (or with this one) its ``target``: the dispatcher starts it
        at its start from now on. None when the job is absent, not scheduled, or has another target."""
        text = json.dumps(target)
        where = [jobs.c.id == job_id, jobs.c.status == "scheduled",
                 jobs.c.target.is_(None) | (jobs.c.target == text)]
        if tenant is not None:
            where.append(jobs.c.tenant == tenant)
        if not c.execute(jobs.update().where(*where).values(target=text)).rowcount:
            return None
        r = c.execute(jobs.select().where(jobs.c.id == job_id)).first()
        return _row(r) if r else None

    def stats(self, tenant: str | None, classes: dict[str, float]) -> dict[str, Any]:
        """Counts per status, gCO2eq sums, and per priority class how many jobs started (or are planned to
        start) within ``classes[name]`` seconds: SQL aggregates, never every row into Python."""
        where = [] if tenant is None else [jobs.c.tenant == tenant]
        with self.engine.connect() as c:
            by_status = dict(c.execute(sa.select(jobs.c.status, sa.func.count()).where(*where)
                                       .group_by(jobs.c.status)).all())
            sums = c.execute(sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(jobs.c.expected_g), 0.0),
                sa.func.coalesce(sa.func.sum(jobs.c.saving_g), 0.0), sa.func.count(jobs.c.actual_g),
                sa.func.coalesce(sa.func.sum(jobs.c.actual_g), 0.0),
                sa.func.coalesce(sa.func.sum(sa.case((jobs.c.actual_g.is_not(None), jobs.c.expected_g))), 0.0),
            ).where(*where)).one()
            started = sa.func.coalesce(jobs.c.started_s, jobs.c.start_s) - jobs.c.submitted_s
            per_class = {}
            for name, max_wait in classes.items():
                counted = c.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
                    sa.case((started <= max_wait + 1.0, 1), else_=0)), 0)).where(
                    *where, jobs.c.priority == name, jobs.c.status != "cancelled")).one()
                per_class[name] = (int(counted[0]), int(counted[1]))
        return {"jobs": int(sums[0]), "by_status": {s: int(by_status.get(s, 0)) for s in STATUSES},
                "predicted_g": float(sums[1]), "saving_g": float(sums[2]), "completed_with_actual": int(sums[3]),
                "actual_g": float(sums[4]), "predicted_g_of_those": float(sums[5]), "per_class": per_class}

    def reservations(self, regions: list[str], lo_s: int, hi_s: int) -> list[tuple[str, str, int, int]]:
        """(job id, region, start, end) of the runs planned or running in ``regions`` that overlap
        ``[lo_s, hi_s)``."""
        q = sa.select(jobs.c.id, jobs.c.region, jobs.c.start_s, jobs.c.end_s).where(
            jobs.c.region.in_(regions), jobs.c.status.in_(("scheduled", "dispatched", "running")),
            jobs.c.end_s.is_not(None), jobs.c.start_s < hi_s, jobs.c.end_s > lo_s)
        with self.engine.connect() as c:
            return [(r[0], r[1], int(r[2]), int(r[3])) for r in c.execute(q)]

    # ---------------------------------------------------------------------------------- dispatch leases
    def claim_due(self, owner: str, now: float, lease_s: float, limit: int = 32) -> list[StoredJob]:
        """Take a lease on scheduled jobs with a target whose start has come; no two owners get one job.

        On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` (several service processes
        share the work without waiting on each other); on SQLite the writer lock serialises claims. The
        conditional update (still scheduled, lease free or expired) is what makes a claim exclusive.
        """
        due = sa.and_(_DISPATCHABLE, jobs.c.start_s <= now, jobs.c.lease_until.is_(None) | (jobs.c.lease_until < now))
        if self.engine.dialect.name == "postgresql":
            pick: Any = sa.select(jobs.c.id).where(due).order_by(jobs.c.start_s).limit(limit) \
                .with_for_update(skip_locked=True)
            with self.engine.begin() as c:
                ids = [r[0] for r in c.execute(pick)]
                won = self._lease(c, ids, due, owner, now + lease_s)
        else:
            # the partial index by name: without statistics SQLite's planner prefers the status index and
            # sorts every scheduled job, most of which have no target (33 ms a poll at 100,000 jobs).
            # Read first, outside the write lock: the conditional update decides who wins.
            with self.engine.connect() as c:
                ids = [r[0] for r in c.exec_driver_sql(_PICK_DUE_SQLITE, (now, now, limit))]
            if not ids:
                return []
            with self.writing(), self.engine.begin() as c:
                won = self._lease(c, ids, due, owner, now + lease_s)
        return [j for j in (self.get(i) for i in won) if j is not None]

    @staticmethod
    def _lease(c: sa.Connection, ids: list[str], due: Any, owner: str, until: float) -> list[str]:
        """The ids among ``ids`` leased to ``owner`` (still due: not taken meanwhile by another)."""
        return [i for i in ids if c.execute(jobs.update().where(jobs.c.id == i, due)
                                            .values(lease_owner=owner, lease_until=until)).rowcount]

    def dispatched(self, job_id: str, owner: str, now: float) -> bool:
        """The target accepted the job: mark it dispatched (only by the lease's owner, only once)."""
        with self.writing(), self.engine.begin() as c:
            done = c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.lease_owner == owner,
                                                 jobs.c.status == "scheduled")
                             .values(status="dispatched", dispatched_s=now, attempts=jobs.c.attempts + 1,
                                     lease_until=None, last_error=None))
        return bool(done.rowcount)

    def dispatch_failed(self, job_id: str, owner: str, error: str, retry_at: float | None) -> None:
        """One failed attempt: retry after ``retry_at`` (the lease holds it till then), or give up (None)."""
        values: dict[str, Any] = {"attempts": jobs.c.attempts + 1, "last_error": error[:2000]}
        if retry_at is None:
            values.update(status="failed", lease_until=None)
        else:
            values.update(lease_until=retry_at)
        with self.writing(), self.engine.begin() as c:
            c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.lease_owner == owner,
                                          jobs.c.status == "scheduled").values(**values))

    def completed_runs(self) -> list[tuple[str, str, str, int, float]]:
        """(repo, workflow, job, submitted_s, runtime_s) of every completed job: the service's own history."""
        q = sa.select(jobs.c.repo, jobs.c.workflow, jobs.c.job_name, jobs.c.submitted_s, jobs.c.runtime_s) \
            .where(jobs.c.status == "completed", jobs.c.runtime_s.is_not(None)).order_by(jobs.c.submitted_s)
        with self.engine.connect() as c:
            return [(r[0], r[1], r[2], int(r[3]), float(r[4])) for r in c.execute(q)]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and x == x and abs(x) != float("inf") else None


class _InsertRows:
    """``INSERT INTO jobs ... VALUES (...), (...) ON CONFLICT (idempotency_key) DO NOTHING``: one statement for
    many rows, its SQL text built once per row count.

    Why one statement: the database runs it in one step. An ``executemany`` runs one step per row, and the
    sqlite3 driver lets go of the GIL around each; while the event loop kept the GIL busy on the other thread,
    every step waited to get it back, and a batch of 20 jobs took 60 ms to write at 500 requests/s. A key
    stored already stores nothing, so that a retry racing its first request never aborts the transaction of
    the jobs written with it.
    """

    ROWS = 500  # 500 rows x 28 columns stay under SQLite's 32,766 and PostgreSQL's 65,535 parameters

    def __init__(self, dialect: sa.Dialect) -> None:
        if dialect.name not in ("sqlite", "postgresql"):
            raise InputError(f"database {dialect.name!r} is not supported: use SQLite or PostgreSQL",
                             field="database_url")
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._quote = dialect.identifier_preparer.quote
        self._sql: dict[tuple[tuple[str, ...], int], str] = {}

    def __call__(self, c: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` (dicts with the same keys); how many were stored (the others' keys were)."""
        stored = 0
        for k in range(0, len(rows), self.ROWS):
            part = rows[k:k + self.ROWS]
            columns = tuple(part[0])
            sql = self._sql.get((columns, len(part))) or self._text(columns, len(part))
            # the driver's own cursor, in the transaction of ``c``: SQLAlchemy's execution context around one
            # statement cost more than the statement (the SQL is plain text, its parameters plain values)
            cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, tuple(r[name] for r in part for name in columns))
                stored += cursor.rowcount
            finally:
                cursor.close()
        return stored

    def _text(self, columns: tuple[str, ...], n: int) -> str:
        one = "(" + ", ".join([self._mark] * len(columns)) + ")"
        sql = (f"INSERT INTO jobs ({', '.join(self._quote(name) for name in columns)}) VALUES "
               + ", ".join([one] * n) + " ON CONFLICT (idempotency_key) DO NOTHING")
        if len(self._sql) < 1024:
            self._sql[(columns, n)] = sql
        return sql


def new_job_id() -> str:
    """A UUID laid out as version 7: milliseconds since the epoch, then 74 random bits.

    Why time first: new jobs' ids then sort by creation, so the id index grows at its end and a commit of
    many jobs rewrites one page of it (random ids touched one page per job, each written to the log again).
    """
    ms = time.time_ns() // 1_000_000
    r = int.from_bytes(os.urandom(10), "big")
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (r >> 68) << 64 | 0b10 << 62 | (r & (2**62 - 1))
    return str(uuid.UUID(int=value))


def _stored_key(tenant: str, key: str) -> str:
    """``tenant:sha256(key)``: unique per tenant, and of a fixed length whatever the client's key."""
    import hashlib

    return f"{tenant}:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def migrate(engine: sa.Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
