"""The SQLite catalog: batches, files (SHA-256), samples and the append-only audit log.

WAL journal, a busy timeout (concurrent ingests wait instead of failing), ``synchronous=FULL``.
Uniqueness is enforced by the database itself: a batch id once, a file once per batch, and
one active (not superseded) record per ``(kind, record_key)``. The audit table refuses
UPDATE and DELETE (triggers), so the history can only grow.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('rnaseq', 'cytokine', 'clinical', 'pk')),
    submitted_by TEXT,
    handed_in_by TEXT,
    note TEXT,
    manifest_json TEXT NOT NULL,
    info_json TEXT NOT NULL,
    source TEXT,
    stored_at TEXT NOT NULL,
    n_samples INTEGER NOT NULL,
    superseded_by TEXT REFERENCES batches(batch_id),
    supersede_reason TEXT
);
CREATE TABLE IF NOT EXISTS files (
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    relpath TEXT NOT NULL,
    role TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (batch_id, relpath)
);
CREATE INDEX IF NOT EXISTS files_sha ON files (sha256);
CREATE TABLE IF NOT EXISTS samples (
    kind TEXT NOT NULL,
    record_key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    patient_id TEXT NOT NULL,
    visit TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    attrs_json TEXT NOT NULL,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, record_key, batch_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS samples_active ON samples (kind, record_key) WHERE superseded = 0;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    batch_id TEXT,
    name TEXT,
    kind TEXT,
    what TEXT NOT NULL,
    why TEXT,
    details_json TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def utc_now() -> str:
    """Return the UTC time as ISO 8601 with microseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open the catalog (creating its tables when asked).

    Parameters
    ----------
    path
        ``<home>/catalog.sqlite``.
    create
        Create the file and tables if missing.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (``isolation_level=None``): callers open transactions explicitly
        with ``BEGIN IMMEDIATE``; rows come back as :class:`sqlite3.Row`.
    """
    path = Path(path)
    if not create and not path.exists():
        msg = f"no catalog at {path}"
        raise FileNotFoundError(msg)
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA foreign_keys = ON")
    if create:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        exists = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit'").fetchone()
        if not exists:
            con.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _statements(DDL):
                    con.execute(stmt)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
    return con


def _statements(ddl: str) -> list[str]:
    out, buf = [], []
    for line in ddl.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    return out
