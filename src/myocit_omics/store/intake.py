r"""Open a hand-in (a batch folder or a zip of one): list and hash its files, compute the batch id.

The batch id is the SHA-256 of the canonical content: one line ``<relative path>\\0<sha256>``
per file, sorted by path. The same content handed in as a folder or as a zip has the same id.
Symbolic links and special files in a folder are refused, like hostile zip entries. Operating
system litter (``.DS_Store``, ``Thumbs.db``, ``__MACOSX/``) is ignored and recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.archive import ArchiveLimits, safe_extract
from myocit_omics.store.objects import sha256_file
from myocit_omics.validate.manifest import MANIFEST

IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class HandIn:
    """A hand-in opened for validation.

    Attributes
    ----------
    source
        The path handed in.
    root
        The folder holding ``manifest.yaml`` (the source, or where the zip was extracted).
    files
        relative POSIX path -> SHA-256 of every file.
    sizes
        relative path -> size in bytes.
    batch_id
        SHA-256 of the canonical content (None when the hand-in could not be opened).
    problems
        Problems found while opening (hostile archive, links).
    ignored
        Litter that was ignored.
    staging
        Temporary folder to remove afterwards (zip hand-ins).
    """

    source: Path
    root: Path
    files: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    batch_id: str | None = None
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    staging: Path | None = None

    @property
    def name(self) -> str:
        """The hand-in's own name (folder or zip name without ``.zip``)."""
        n = self.source.name
        return n[:-4] if n.lower().endswith(".zip") else n

    def close(self) -> None:
        """Remove the staging folder, if any."""
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)


def batch_id_of(files: dict[str, str]) -> str:
    r"""Return the batch id: SHA-256 over sorted ``path\\0sha256`` lines."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\0{files[rel]}\n".encode())
    return digest.hexdigest()


def _walk(root: Path, label: str) -> tuple[list[str], list[str], list[Problem]]:
    files: list[str] = []
    ignored: list[str] = []
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in list(dirnames):
            full = Path(dirpath) / d
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                problems.append(
                    Problem(
                        file=f"{label}/{rel}",
                        message="symbolic link in the batch folder",
                        value=os.readlink(full),
                        rule="batch.link",
                        expected="regular files only",
                        fix="replace the link by the folder it points to",
                    )
                )
                dirnames.remove(d)
            elif d == "__MACOSX":
                ignored.append(rel + "/")
                dirnames.remove(d)
        for f in filenames:
            full = Path(dirpath) / f
            rel = full.relative_to(root).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                problems.append(
                    Problem(
                        file=f"{label}/{rel}",
                        message="symbolic link in the batch folder",
                        value=os.readlink(full),
                        rule="batch.link",
                        expected="regular files only",
                        fix="replace the link by the file it points to",
                    )
                )
            elif not stat.S_ISREG(mode):
                problems.append(
                    Problem(
                        file=f"{label}/{rel}",
                        message="special file in the batch folder",
                        value=oct(mode),
                        rule="batch.special_file",
                        expected="regular files only",
                    )
                )
            elif f in IGNORED_NAMES:
                ignored.append(rel)
            else:
                files.append(rel)
    return sorted(files), ignored, problems


def open_hand_in(path: str | Path, *, staging_parent: Path, limits: ArchiveLimits | None = None) -> HandIn:
    """Open a batch folder or zip; hash its files.

    Parameters
    ----------
    path
        The folder or ``.zip``.
    staging_parent
        Where a zip is extracted (a temporary folder is made inside).
    limits
        Archive limits.

    Returns
    -------
    HandIn
        With ``problems`` filled when the hand-in is hostile or unreadable (then ``files`` may
        be empty and ``batch_id`` is the hash of the raw zip or None).

    Raises
    ------
    InputError
        If ``path`` does not exist or is neither a folder nor a zip (a usage error).
    """
    source = Path(path)
    if source.is_symlink():
        raise InputError(
            "a batch may not be a symbolic link",
            file=str(source),
            rule="batch.link",
            expected="a folder or a .zip file",
        )
    if not source.exists():
        raise InputError(
            "no such file or folder",
            file=str(source),
            rule="batch.missing",
            expected="a batch folder or a .zip of one",
        )
    if source.is_dir():
        hand = HandIn(source=source, root=source)
    elif source.is_file() and (source.suffix.lower() == ".zip" or zipfile.is_zipfile(source)):
        staging_parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=staging_parent))
        hand = HandIn(source=source, root=staging, staging=staging)
        try:
            safe_extract(source, staging, name=source.name, limits=limits)
        except (ValidationFailed, InputError) as exc:
            hand.problems.extend(exc.problems)
            hand.batch_id = sha256_file(source)
            return hand
        entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
        if not (staging / MANIFEST).exists() and len(entries) == 1 and entries[0].is_dir():
            hand.root = entries[0]
    else:
        raise InputError(
            "not a batch folder or zip",
            file=str(source),
            rule="batch.type",
            expected="a folder with manifest.yaml, or a .zip of one",
        )
    rels, ignored, problems = _walk(hand.root, source.name)
    hand.ignored = ignored
    hand.problems.extend(problems)
    for rel in rels:
        full = hand.root.joinpath(*rel.split("/"))
        hand.files[rel] = sha256_file(full)
        hand.sizes[rel] = full.stat().st_size
    if not hand.files and not hand.problems:
        hand.problems.append(
            Problem(
                file=source.name,
                message="the batch is empty",
                rule="batch.empty",
                expected="manifest.yaml and the files it lists",
            )
        )
    hand.batch_id = batch_id_of(hand.files) if hand.files else None
    return hand
