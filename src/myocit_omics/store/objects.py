"""The content-addressed area, the per-batch views, the store lock and the crash hook.

Layout under ``<home>/store/``::

    objects/ab/abcdef...     raw files, byte for byte, named by their SHA-256, read-only
    batches/<batch id>/...   the batch's files under their own names (hard links to objects)
    .tmp/                    files being written (only while holding the lock)
    .lock                    the store lock (``fcntl.flock``)

A file is written to ``.tmp``, flushed, fsynced, made read-only and renamed into
``objects``; a batch view is built in ``.tmp`` and renamed into ``batches``. Neither is
visible to readers until the catalog transaction that names them commits: readers only
follow catalog rows. Objects and views without a catalog row are garbage from an interrupted
ingest and are removed by :func:`collect_garbage` under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from myocit_omics.errors import InputError

#: Environment variable naming a step at which the ingest process exits at once (tests only).
CRASH_ENV = "MYOCIT_CRASH_AT"


def crash_point(step: str) -> None:
    """Exit the process at once (``os._exit(86)``) if ``$MYOCIT_CRASH_AT`` names this step.

    Used by the kill tests to stop an ingest between any two durable writes.

    Parameters
    ----------
    step
        The step name (e.g. ``blob:0``, ``view``, ``before-commit``).
    """
    if os.environ.get(CRASH_ENV) == step:
        os._exit(86)


def sha256_file(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ObjectArea:
    """The ``<home>/store`` folder.

    Parameters
    ----------
    root
        ``<home>/store``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.views = self.root / "batches"
        self.tmp = self.root / ".tmp"

    def object_path(self, sha: str) -> Path:
        """Return where the object with this hash lives."""
        return self.objects / sha[:2] / sha

    def view_path(self, batch_id: str) -> Path:
        """Return the folder of a batch's files under their own names."""
        return self.views / batch_id

    def ensure(self) -> None:
        """Create the folders."""
        for d in (self.objects, self.views, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store lock (exclusive ``flock`` on ``.lock``; released when the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def put(self, source: Path, sha: str) -> bool:
        """Store a file under its hash (call with the lock held); return True if newly written.

        Parameters
        ----------
        source
            The file to copy.
        sha
            Its SHA-256 (checked again on the copy).

        Returns
        -------
        bool
            False when the object already existed.

        Raises
        ------
        InputError
            If the copy does not have the expected hash (the source changed while reading).
        """
        final = self.object_path(sha)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        part = self.tmp / f"{sha}.part"
        digest = hashlib.sha256()
        with open(source, "rb") as src, open(part, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha:
            part.unlink()
            raise InputError("the file changed while it was being stored", file=str(source),
                             rule="batch.changed", expected="a batch nobody edits while it is handed in",
                             fix="finish copying the batch, then hand it in again")
        os.chmod(part, 0o444)
        os.replace(part, final)
        fsync_dir(final.parent)
        return True

    def build_view(self, batch_id: str, files: dict[str, str]) -> Path:
        """Build ``batches/<batch id>/`` from objects (hard links; copies if links fail).

        Parameters
        ----------
        batch_id
            The batch.
        files
            relative path -> SHA-256.

        Returns
        -------
        Path
            The view folder.
        """
        final = self.view_path(batch_id)
        if final.exists():
            _rmtree(final)
        staging = self.tmp / f"view-{batch_id}"
        if staging.exists():
            _rmtree(staging)
        for rel, sha in files.items():
            target = staging.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.object_path(sha), target)
            except OSError:
                shutil.copyfile(self.object_path(sha), target)
                os.chmod(target, 0o444)
        self.views.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)
        fsync_dir(self.views)
        return final

    def collect_garbage(self, referenced_objects: set[str], referenced_batches: set[str]) -> dict[str, int]:
        """Remove temporary files, unreferenced objects and views (call with the lock held).

        Parameters
        ----------
        referenced_objects
            SHA-256 of every file row in the catalog.
        referenced_batches
            Every batch id in the catalog.

        Returns
        -------
        dict
            How many temporary entries, objects and views were removed.
        """
        removed = {"tmp": 0, "objects": 0, "views": 0}
        if self.tmp.exists():
            for entry in self.tmp.iterdir():
                _rm(entry)
                removed["tmp"] += 1
        if self.objects.exists():
            for sub in self.objects.iterdir():
                for obj in sub.iterdir():
                    if obj.name not in referenced_objects:
                        _rm(obj)
                        removed["objects"] += 1
        if self.views.exists():
            for view in self.views.iterdir():
                if view.name not in referenced_batches:
                    _rmtree(view)
                    removed["views"] += 1
        return removed


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        _rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=False)
