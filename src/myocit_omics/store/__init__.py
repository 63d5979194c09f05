"""The study store: content-addressed raw files, the SQLite catalog and the audit log.

``StudyStore(home).ingest(path)`` validates a hand-in and stores it atomically and once,
or rejects it with a report; ``batches()``, ``samples()``, ``audit()`` and ``rejected()``
read what is there. See :mod:`myocit_omics.store.study_store` for the ingest protocol.
"""

from myocit_omics.store.study_store import (
    ACCEPTED,
    ALREADY_STORED,
    REJECTED,
    BatchRecord,
    IngestResult,
    StudyStore,
)

__all__ = ["ACCEPTED", "ALREADY_STORED", "REJECTED", "BatchRecord", "IngestResult", "StudyStore"]
