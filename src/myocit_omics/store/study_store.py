"""The study store: ingest a hand-in, atomically, once; list batches and samples; keep the audit log.

Ingest, step by step::

    open the hand-in (extract a zip safely), hash every file -> batch id
    already in the catalog?                         -> "already_stored" (nothing changes)
    validate (manifest, rows, cross-file checks)    -> problems? -> "rejected" (report folder)
    take the store lock (flock), then
        recover: drop garbage of interrupted ingests
        again: already stored? conflicting samples? supersedes resolvable?
        write objects (temp file, fsync, rename), build the batch view (temp folder, rename)
        ONE catalog transaction: batch, files, samples, superseded marks, audit entry
    release the lock; a hand-in from the inbox is removed only now

A kill at any moment leaves the whole batch or nothing: objects and views only become
visible through catalog rows, which appear in one transaction; leftovers are removed on the
next ingest. Concurrent ingests are serialised on the lock for the short store phase, and the
database's unique constraints make doubling impossible even without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.config import StudyConfig, default_study_config, load_study_config
from myocit_omics.errors import Problem
from myocit_omics.io.archive import ArchiveLimits
from myocit_omics.store.catalog import connect, utc_now
from myocit_omics.store.intake import HandIn, open_hand_in
from myocit_omics.store.objects import ObjectArea, crash_point
from myocit_omics.store.reject import holds_identifiers, list_rejections, write_rejection
from myocit_omics.validate.batch import BatchCheck, SampleRecord, validate_batch

ACCEPTED, ALREADY_STORED, REJECTED = "accepted", "already_stored", "rejected"


@dataclass
class IngestResult:
    """What happened to one hand-in.

    Attributes
    ----------
    status
        ``accepted``, ``already_stored`` or ``rejected``.
    batch_id, name, kind
        The batch (id may be None for a hand-in that could not be opened).
    problems
        Every problem (rejected only).
    report_dir
        The rejection folder (rejected only).
    source
        The path handed in.
    n_samples, n_unchanged
        Records added, and records already stored with the same data.
    supersedes
        Batch id replaced by this one, if any.
    seconds
        Wall time of the ingest.
    """

    status: str
    batch_id: str | None
    name: str
    kind: str | None = None
    problems: list[Problem] = field(default_factory=list)
    report_dir: Path | None = None
    source: str = ""
    n_samples: int = 0
    n_unchanged: int = 0
    supersedes: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True unless rejected."""
        return self.status != REJECTED

    def summary(self) -> str:
        """One line for people."""
        if self.status == ACCEPTED:
            extra = f", {self.n_unchanged} already stored unchanged" if self.n_unchanged else ""
            sup = f"; supersedes {self.supersedes[:12]}" if self.supersedes else ""
            return (
                f"accepted: {self.name} ({self.kind}, {self.n_samples} new record(s){extra}{sup}) "
                f"batch {self.batch_id[:12] if self.batch_id else ''} in {self.seconds:.1f} s"
            )
        if self.status == ALREADY_STORED:
            short = self.batch_id[:12] if self.batch_id else ""
            return f"already stored: {self.name} (batch {short}); nothing changed"
        kept = "; not kept (direct identifiers)" if holds_identifiers(self.problems) else ""
        return (f"rejected: {self.name}: {len(self.problems)} problem(s){kept}; "
                f"report: {self.report_dir}/REPORT.md")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "status": self.status,
            "batch_id": self.batch_id,
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "n_samples": self.n_samples,
            "n_unchanged": self.n_unchanged,
            "supersedes": self.supersedes,
            "seconds": round(self.seconds, 3),
            "report_dir": str(self.report_dir) if self.report_dir else None,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class BatchRecord:
    """A stored batch.

    Attributes
    ----------
    batch_id, name, kind
        Identity.
    manifest
        The parsed manifest.yaml.
    files
        role -> path of the stored file (read-only, under its own name); a ``counts_dir`` is
        listed file by file as ``counts_dir/<name>``, and the folder is in ``dirs``.
    dirs
        role -> folder (``counts_dir`` only).
    file_sha256
        relative path -> SHA-256.
    root
        The batch's folder in the store.
    """

    batch_id: str
    name: str
    kind: str
    manifest: dict[str, Any]
    files: dict[str, Path]
    dirs: dict[str, Path]
    file_sha256: dict[str, str]
    root: Path
    stored_at: str
    submitted_by: str | None
    handed_in_by: str | None
    note: str
    info: dict[str, Any]
    superseded_by: str | None = None


def _default_who() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "unknown"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StudyStore:
    """The study home's store and catalog (docs/contracts.md sections 1 and 3).

    Parameters
    ----------
    home
        The study home.
    config
        Study configuration; default ``<home>/study.yaml`` or the MYOCIT defaults.
    limits
        Zip limits.
    """

    def __init__(
        self, home: str | Path, *, config: StudyConfig | None = None, limits: ArchiveLimits | None = None
    ) -> None:
        self.home = Path(home).resolve()
        self._config = config
        self.limits = limits or ArchiveLimits()
        self.area = ObjectArea(self.home / "store")
        self.catalog_path = self.home / "catalog.sqlite"
        self.inbox = self.home / "inbox"
        self.rejected_root = self.home / "rejected"
        self.staging = self.home / "store" / ".staging"

    # ------------------------------------------------------------------ helpers
    @property
    def config(self) -> StudyConfig:
        """The study configuration."""
        if self._config is None:
            path = self.home / "study.yaml"
            self._config = load_study_config(path) if path.is_file() else default_study_config()
        return self._config

    @contextlib.contextmanager
    def _db(self) -> Any:
        self.home.mkdir(parents=True, exist_ok=True)
        con = connect(self.catalog_path)
        try:
            yield con
        finally:
            con.close()

    def _has_catalog(self) -> bool:
        return self.catalog_path.exists()

    def _audit(
        self,
        con: Any,
        *,
        who: str,
        action: str,
        what: str,
        why: str | None = None,
        batch_id: str | None = None,
        name: str | None = None,
        kind: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        con.execute(
            "INSERT INTO audit (at, who, action, batch_id, name, kind, what, why, details_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                utc_now(),
                who,
                action,
                batch_id,
                name,
                kind,
                what,
                why,
                json.dumps(details or {}, default=str, sort_keys=True),
            ),
        )

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        path: str | Path,
        submitted_by: str | None = None,
        *,
        from_inbox: bool = False,
    ) -> IngestResult:
        """Hand in a batch folder or zip.

        Parameters
        ----------
        path
            The batch.
        submitted_by
            Who hands it in (recorded in the audit log); default the OS user.
        from_inbox
            The batch came from ``<home>/inbox``: it is moved (rejected) or removed (stored).

        Returns
        -------
        IngestResult
            accepted, already stored, or rejected with its report folder.

        Raises
        ------
        InputError
            If ``path`` is not a folder or zip at all (a usage error, not a rejection).
        """
        t0 = time.perf_counter()
        who = submitted_by or _default_who()
        hand = open_hand_in(path, staging_parent=self.staging, limits=self.limits)
        try:
            result = self._ingest_opened(hand, who=who, from_inbox=from_inbox)
        finally:
            hand.close()
        result.seconds = time.perf_counter() - t0
        return result

    def _ingest_opened(self, hand: HandIn, *, who: str, from_inbox: bool) -> IngestResult:
        source = str(hand.source)
        crash_point("opened")
        if hand.problems:
            return self._reject(hand, hand.problems, who=who, from_inbox=from_inbox, check=None)
        if self._stored(hand.batch_id):
            return self._already(hand, from_inbox=from_inbox)
        check = validate_batch(hand.root, list(hand.files), config=self.config)
        crash_point("validated")
        if check.problems:
            return self._reject(hand, check.problems, who=who, from_inbox=from_inbox, check=check)
        m = check.manifest
        if m is None:  # validate_batch always returns a manifest when it found no problem
            msg = "internal error: a valid batch without a manifest"
            raise RuntimeError(msg)
        self.area.ensure()
        with self.area.lock():
            crash_point("locked")
            self._recover_locked()
            if self._stored(hand.batch_id):
                return self._already(hand, from_inbox=from_inbox)
            with self._db() as con:
                superseded, problems = self._resolve_supersedes(con, m)
                new, unchanged, conflicts = self._compare_samples(con, check.samples, superseded)
            problems += conflicts
            if problems:
                return self._reject(hand, problems, who=who, from_inbox=from_inbox, check=check)
            for i, (rel, sha) in enumerate(sorted(hand.files.items())):
                self.area.put(hand.root.joinpath(*rel.split("/")), sha)
                crash_point(f"blob:{i}")
            self.area.build_view(hand.batch_id, hand.files)
            crash_point("view")
            self._commit(hand, check, new=new, unchanged=unchanged, superseded=superseded, who=who)
            crash_point("committed")
        if from_inbox:
            self._remove_from_inbox(hand.source)
        return IngestResult(
            ACCEPTED,
            hand.batch_id,
            m.name or hand.name,
            m.kind,
            source=source,
            n_samples=len(new),
            n_unchanged=len(unchanged),
            supersedes=superseded,
        )

    def _stored(self, batch_id: str | None) -> bool:
        if batch_id is None or not self._has_catalog():
            return False
        with self._db() as con:
            return con.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)).fetchone() is not None

    def _already(self, hand: HandIn, *, from_inbox: bool) -> IngestResult:
        with self._db() as con:
            row = con.execute(
                "SELECT name, kind FROM batches WHERE batch_id = ?", (hand.batch_id,)
            ).fetchone()
        if from_inbox:
            self._remove_from_inbox(hand.source)
        return IngestResult(ALREADY_STORED, hand.batch_id, row["name"], row["kind"], source=str(hand.source))

    def _remove_from_inbox(self, source: Path) -> None:
        import shutil

        if source.is_dir():
            shutil.rmtree(source, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()

    def _resolve_supersedes(self, con: Any, m: Any) -> tuple[str | None, list[Problem]]:
        if not m.supersedes:
            return None, []
        ref = m.supersedes["batch"]
        rows = con.execute(
            "SELECT batch_id, name, kind, superseded_by FROM batches WHERE batch_id = ? OR name = ? "
            "OR (length(?) >= 8 AND batch_id LIKE ? || '%')",
            (ref, ref, ref, ref),
        ).fetchall()
        active = [r for r in rows if r["superseded_by"] is None]
        fix = "name the batch id or name shown by `myocit status`"
        if not rows:
            return None, [
                Problem(
                    file="manifest.yaml",
                    column="supersedes.batch",
                    value=ref,
                    message="the batch to supersede is not in the store",
                    rule="supersedes.unknown",
                    expected="a stored batch id or name",
                    fix=fix,
                )
            ]
        if not active:
            return None, [
                Problem(
                    file="manifest.yaml",
                    column="supersedes.batch",
                    value=ref,
                    message="that batch is already superseded",
                    rule="supersedes.superseded",
                    expected="an active batch",
                    fix=fix,
                )
            ]
        if len(active) > 1:
            return None, [
                Problem(
                    file="manifest.yaml",
                    column="supersedes.batch",
                    value=ref,
                    message=f"{len(active)} batches match",
                    rule="supersedes.ambiguous",
                    expected="exactly one batch",
                    fix="give the batch id",
                )
            ]
        if active[0]["kind"] != m.kind:
            return None, [
                Problem(
                    file="manifest.yaml",
                    column="supersedes.batch",
                    value=ref,
                    message=f"that batch is a {active[0]['kind']} batch, this one {m.kind}",
                    rule="supersedes.kind",
                    expected=f"a {m.kind} batch",
                )
            ]
        return active[0]["batch_id"], []

    def _visit_taken(self, con: Any, s: SampleRecord, superseded: str | None) -> list[Problem]:
        """Return a conflict if another stored RNA-seq sample already has this patient's visit."""
        if s.kind != "rnaseq" or s.attrs.get("role", "patient") != "patient":
            return []
        for other in con.execute(
            "SELECT s.sample_id, s.batch_id, s.attrs_json, b.name "
            "FROM samples s JOIN batches b USING (batch_id) "
            "WHERE s.kind = 'rnaseq' AND s.patient_id = ? AND s.visit = ? AND s.superseded = 0 "
            "AND s.record_key != ?",
            (s.patient_id, s.visit, s.key),
        ):
            if other["batch_id"] == superseded or json.loads(other["attrs_json"]).get("role") != "patient":
                continue
            return [
                Problem(
                    file=s.where[0] if s.where else "manifest.yaml",
                    row=s.where[1] if s.where else None,
                    column="patient_id,visit",
                    value=f"{s.patient_id}/{s.visit}",
                    message=f"patient {s.patient_id} already has {s.visit} RNA-seq: sample "
                    f"{other['sample_id']!r} in batch {other['name']} ({other['batch_id'][:12]})",
                    rule="conflict.patient_visit",
                    expected="one RNA-seq sample per patient and visit",
                    fix=f"correct the visit, or if this re-sequencing replaces {other['name']}, add to "
                    f"manifest.yaml: supersedes: {{batch: {other['batch_id'][:12]}, reason: <why>}}",
                )
            ]
        return []

    def _compare_samples(
        self,
        con: Any,
        samples: list[SampleRecord],
        superseded: str | None,
    ) -> tuple[list[SampleRecord], list[SampleRecord], list[Problem]]:
        new, unchanged, problems = [], [], []
        for s in samples:
            row = con.execute(
                "SELECT batch_id, data_sha256 FROM samples WHERE kind = ? AND record_key = ? "
                "AND superseded = 0",
                (s.kind, s.key),
            ).fetchone()
            if row is None or row["batch_id"] == superseded:
                problems.extend(self._visit_taken(con, s, superseded))
                new.append(s)
            elif row["data_sha256"] == s.data_sha256:
                unchanged.append(s)
            else:
                name = con.execute(
                    "SELECT name FROM batches WHERE batch_id = ?", (row["batch_id"],)
                ).fetchone()[0]
                problems.append(
                    Problem(
                        file=s.where[0] if s.where else "manifest.yaml",
                        row=s.where[1] if s.where else None,
                        column="sample_id" if s.kind not in ("clinical", "patient") else "patient_id",
                        value=s.key,
                        message=f"{s.kind} record {s.key!r} is already stored with different data "
                        f"(batch {name}, {row['batch_id'][:12]})",
                        rule="conflict.sample",
                        expected="new samples, or the same data",
                        fix=f"if this batch replaces {name}, add to manifest.yaml: supersedes: "
                        f"{{batch: {row['batch_id'][:12]}, reason: <why>}}",
                    )
                )
        return new, unchanged, problems

    def _commit(
        self,
        hand: HandIn,
        check: BatchCheck,
        *,
        new: list[SampleRecord],
        unchanged: list[SampleRecord],
        superseded: str | None,
        who: str,
    ) -> None:
        m = check.manifest
        if m is None:
            msg = "internal error: committing a batch without a manifest"
            raise RuntimeError(msg)
        roles = {rel: role for role, rel in m.files.items()}
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                info = {**check.info, "ignored": hand.ignored, "n_unchanged": len(unchanged)}
                con.execute(
                    "INSERT INTO batches (batch_id, name, kind, submitted_by, handed_in_by, note, "
                    "manifest_json, "
                    "info_json, source, stored_at, n_samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        hand.batch_id,
                        m.name,
                        m.kind,
                        m.submitted_by,
                        who,
                        m.note,
                        json.dumps(m.raw, default=str, sort_keys=True),
                        json.dumps(info, default=str, sort_keys=True),
                        str(hand.source),
                        utc_now(),
                        len(new),
                    ),
                )
                if superseded:
                    con.execute("UPDATE samples SET superseded = 1 WHERE batch_id = ?", (superseded,))
                    con.execute(
                        "UPDATE batches SET superseded_by = ?, supersede_reason = ? WHERE batch_id = ?",
                        (hand.batch_id, m.supersedes["reason"], superseded),
                    )
                for rel, sha in sorted(hand.files.items()):
                    role = roles.get(rel) or next(
                        (r for d, r in roles.items() if rel.startswith(d + "/")),
                        "manifest" if rel == "manifest.yaml" else "other",
                    )
                    con.execute(
                        "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                        (hand.batch_id, rel, role, sha, hand.sizes[rel]),
                    )
                for s in new:
                    con.execute(
                        "INSERT INTO samples (kind, record_key, sample_id, batch_id, patient_id, visit, "
                        "data_sha256, attrs_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            s.kind,
                            s.key,
                            s.sample_id,
                            hand.batch_id,
                            s.patient_id,
                            s.visit,
                            s.data_sha256,
                            json.dumps(s.attrs, default=str, sort_keys=True),
                        ),
                    )
                what = f"stored {m.kind} batch {m.name}: {len(hand.files)} file(s), {len(new)} new record(s)"
                if unchanged:
                    what += f", {len(unchanged)} unchanged record(s) already stored"
                self._audit(
                    con,
                    who=who,
                    action="stored",
                    what=what,
                    why=m.note or None,
                    batch_id=hand.batch_id,
                    name=m.name,
                    kind=m.kind,
                    details={
                        "source": str(hand.source),
                        "submitted_by": m.submitted_by,
                        "files": hand.files,
                        "rounding": check.info.get("counts", {}).get("rounding"),
                    },
                )
                if superseded:
                    self._audit(
                        con,
                        who=who,
                        action="superseded",
                        batch_id=superseded,
                        kind=m.kind,
                        name=m.supersedes["batch"],
                        what=f"batch {superseded[:12]} superseded by {m.name} ({hand.batch_id[:12]})",
                        why=m.supersedes["reason"],
                        details={"by": hand.batch_id},
                    )
                crash_point("before-commit")
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    con.execute("ROLLBACK")
                raise

    def _reject(
        self, hand: HandIn, problems: list[Problem], *, who: str, from_inbox: bool, check: BatchCheck | None
    ) -> IngestResult:
        m = check.manifest if check else None
        name = (m.name if m and m.name else None) or hand.name
        kind = m.kind if m else None
        meta = {
            "name": name,
            "kind": kind,
            "batch_id": hand.batch_id,
            "source": str(hand.source),
            "handed_in_by": who,
            "at": utc_now(),
        }
        folder = write_rejection(
            hand.source, problems, rejected_root=self.rejected_root, name=name, move=from_inbox, meta=meta
        )
        crash_point("rejected")
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            self._audit(
                con,
                who=who,
                action="rejected",
                batch_id=hand.batch_id,
                name=name,
                kind=kind,
                what=f"rejected {name}: {len(problems)} problem(s)",
                why="; ".join(p.describe() for p in problems[:3])[:2000],
                details={"report": str(folder), "rules": sorted({p.rule for p in problems})},
            )
            con.execute("COMMIT")
        return IngestResult(
            REJECTED,
            hand.batch_id,
            name,
            kind,
            problems=list(problems),
            report_dir=folder,
            source=str(hand.source),
        )

    def ingest_inbox(self, submitted_by: str | None = None) -> list[IngestResult]:
        """Ingest every batch folder or zip in ``<home>/inbox`` (names starting with ``.`` are skipped).

        Parameters
        ----------
        submitted_by
            Who hands them in; default the OS user.

        Returns
        -------
        list of IngestResult
            One per hand-in, in name order.
        """
        self.inbox.mkdir(parents=True, exist_ok=True)
        results = []
        # one inbox run at a time (a schedule and an event may start two): the second waits,
        # then finds the hand-ins already moved out of the inbox
        fd = os.open(self.inbox / ".inbox.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for item in sorted(self.inbox.iterdir()):
                if item.exists():
                    results.extend(self._inbox_item(item, submitted_by))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return results

    def _inbox_item(self, item: Path, submitted_by: str | None) -> list[IngestResult]:
        """Ingest one inbox entry; hidden, partial (``.part``...) and non-batch entries are left alone."""
        if item.name.startswith(".") or item.name.endswith((".part", ".tmp", ".crdownload")):
            return []
        if item.is_symlink() or not (item.is_dir() or item.suffix.lower() == ".zip"):
            return []
        return [self.ingest(item, submitted_by, from_inbox=True)]

    # ------------------------------------------------------------------ recovery and integrity
    def _recover_locked(self) -> dict[str, int]:
        refs: set[str] = set()
        batches: set[str] = set()
        if self._has_catalog():
            with self._db() as con:
                refs = {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM files")}
                batches = {r[0] for r in con.execute("SELECT batch_id FROM batches")}
        removed = self.area.collect_garbage(refs, batches)
        for parent, prefix in ((self.staging, ""), (self.rejected_root, ".tmp-")):
            if not parent.is_dir():
                continue
            for d in parent.iterdir():
                if not d.name.startswith(prefix):
                    continue
                pid = d.name[len(prefix) :].split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    import shutil

                    shutil.rmtree(d, ignore_errors=True)
                    removed["tmp"] += 1
        return removed

    def recover(self) -> dict[str, int]:
        """Remove what interrupted ingests left behind (under the store lock); return the counts."""
        self.area.ensure()
        with self.area.lock():
            return self._recover_locked()

    def verify(self) -> list[str]:
        """Check the store against the catalog; return every inconsistency (empty = intact).

        Every file row must have its object with the right SHA-256 and a view entry; every active
        sample must belong to an active batch; the SQLite integrity check must pass.
        """
        from myocit_omics.store.objects import sha256_file

        issues: list[str] = []
        if not self._has_catalog():
            return issues
        with self._db() as con:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                issues.append(f"sqlite integrity_check: {ok}")
            for r in con.execute("SELECT batch_id, relpath, sha256, size FROM files"):
                obj = self.area.object_path(r["sha256"])
                view = self.area.view_path(r["batch_id"]).joinpath(*r["relpath"].split("/"))
                if not obj.is_file():
                    issues.append(f"missing object {r['sha256']} for {r['batch_id'][:12]}/{r['relpath']}")
                elif sha256_file(obj) != r["sha256"] or obj.stat().st_size != r["size"]:
                    issues.append(f"object {r['sha256']} does not match its hash")
                if not view.is_file():
                    issues.append(f"missing view file {view}")
            for r in con.execute(
                "SELECT s.kind, s.sample_id FROM samples s JOIN batches b USING (batch_id) "
                "WHERE s.superseded = 0 AND b.superseded_by IS NOT NULL"
            ):
                issues.append(f"active sample {r['kind']}/{r['sample_id']} in a superseded batch")
            for r in con.execute(
                "SELECT batch_id FROM batches b WHERE NOT EXISTS "
                "(SELECT 1 FROM files f WHERE f.batch_id = b.batch_id)"
            ):
                issues.append(f"batch {r['batch_id'][:12]} has no files")
        return issues

    # ------------------------------------------------------------------ queries
    def batches(self, kind: str | None = None, *, include_superseded: bool = False) -> list[BatchRecord]:
        """Return the stored batches (oldest first), not the superseded ones unless asked.

        Parameters
        ----------
        kind
            Only batches of this kind.
        include_superseded
            Also the batches another batch replaced.

        Returns
        -------
        list of BatchRecord
            With paths to the stored (read-only) files.
        """
        if not self._has_catalog():
            return []
        sql = "SELECT * FROM batches WHERE 1=1"
        args: list[Any] = []
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if not include_superseded:
            sql += " AND superseded_by IS NULL"
        sql += " ORDER BY stored_at, batch_id"
        out = []
        with self._db() as con:
            for b in con.execute(sql, args).fetchall():
                files = con.execute(
                    "SELECT relpath, role, sha256 FROM files WHERE batch_id = ? ORDER BY relpath",
                    (b["batch_id"],),
                ).fetchall()
                root = self.area.view_path(b["batch_id"])
                by_role: dict[str, Path] = {}
                dirs: dict[str, Path] = {}
                manifest = json.loads(b["manifest_json"])
                for f in files:
                    path = root.joinpath(*f["relpath"].split("/"))
                    if f["role"] == "counts_dir":
                        dirs["counts_dir"] = root / manifest["files"]["counts_dir"]
                        by_role[f"counts_dir/{Path(f['relpath']).name}"] = path
                    else:
                        by_role[f["role"]] = path
                out.append(
                    BatchRecord(
                        batch_id=b["batch_id"],
                        name=b["name"],
                        kind=b["kind"],
                        manifest=manifest,
                        files=by_role,
                        dirs=dirs,
                        file_sha256={f["relpath"]: f["sha256"] for f in files},
                        root=root,
                        stored_at=b["stored_at"],
                        submitted_by=b["submitted_by"],
                        handed_in_by=b["handed_in_by"],
                        note=b["note"] or "",
                        info=json.loads(b["info_json"]),
                        superseded_by=b["superseded_by"],
                    )
                )
        return out

    def samples(self, kind: str | None = None, *, include_superseded: bool = False) -> pd.DataFrame:
        """Return every stored sample record as a DataFrame.

        Columns: kind, sample_id, record_key (unique per kind among active records), batch_id,
        batch_name, patient_id, visit, data_sha256, superseded, plus the record's attributes
        (column, sex, role, seq_batch for RNA-seq).
        """
        cols = [
            "kind",
            "sample_id",
            "record_key",
            "batch_id",
            "batch_name",
            "patient_id",
            "visit",
            "data_sha256",
            "superseded",
        ]
        if not self._has_catalog():
            return pd.DataFrame(columns=cols)
        sql = "SELECT s.*, b.name AS batch_name FROM samples s JOIN batches b USING (batch_id) WHERE 1=1"
        args: list[Any] = []
        if kind:
            sql += " AND s.kind = ?"
            args.append(kind)
        if not include_superseded:
            sql += " AND s.superseded = 0"
        sql += " ORDER BY s.kind, s.record_key"
        with self._db() as con:
            rows = con.execute(sql, args).fetchall()
        records = []
        for r in rows:
            rec = {c: r[c] for c in cols}
            rec["superseded"] = bool(rec["superseded"])
            rec.update(json.loads(r["attrs_json"]))
            records.append(rec)
        return pd.DataFrame(records, columns=None if records else cols)

    def audit(self, limit: int | None = None) -> pd.DataFrame:
        """Return the audit log, newest first (at most ``limit`` entries)."""
        cols = ["seq", "at", "who", "action", "batch_id", "name", "kind", "what", "why"]
        if not self._has_catalog():
            return pd.DataFrame(columns=cols)
        sql = "SELECT " + ", ".join(cols) + " FROM audit ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._db() as con:
            rows = con.execute(sql).fetchall()
        return pd.DataFrame([dict(r) for r in rows], columns=cols)

    def rejected(self) -> list[dict[str, Any]]:
        """Return the rejected hand-ins, newest first."""
        return list_rejections(self.rejected_root)
