"""Safe extraction of a batch handed in as a zip archive.

Every entry is checked before anything is written, and every problem is reported:
paths that escape the folder (``../``, zip-slip), absolute paths and drive letters,
symbolic links and other special files, encrypted entries, too many entries, a total
expanded size or a compression ratio beyond the limits (zip bombs), and corrupt archives.
While extracting, the bytes actually written are counted again, so a lying header cannot
exceed the limits either.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from myocit_omics.errors import InputError, Problem, ValidationFailed


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits of a zip hand-in.

    Attributes
    ----------
    max_total_bytes
        Largest total expanded size.
    max_ratio
        Largest expanded / compressed size of an entry (above ``ratio_floor_bytes``).
    ratio_floor_bytes
        Entries smaller than this are not ratio-checked (tiny files compress well).
    max_entries
        Most entries in one archive.
    """

    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20
    max_entries: int = 10_000


_JUNK = ("__MACOSX/",)


def check_zip(
    path: str | Path, *, name: str | None = None, limits: ArchiveLimits | None = None
) -> list[Problem]:
    """Return every reason not to extract this zip (empty list: safe).

    Parameters
    ----------
    path
        The zip file.
    name
        Name for messages (default: the file name).
    limits
        Size limits (default :class:`ArchiveLimits`).

    Returns
    -------
    list of Problem
        One problem per hostile or broken entry.
    """
    path = Path(path)
    label = name or path.name
    limits = limits or ArchiveLimits()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [
            Problem(
                file=label,
                message=f"not a readable zip archive ({exc})",
                rule="archive.corrupt",
                expected="an intact .zip file",
                fix="create the zip again",
            )
        ]
    problems: list[Problem] = []
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            problems.append(
                Problem(
                    file=label,
                    message=f"{len(infos)} entries",
                    value=len(infos),
                    rule="archive.too_many_entries",
                    expected=f"at most {limits.max_entries} entries",
                )
            )
        total = 0
        for info in infos:
            entry = info.filename
            pure = PurePosixPath(entry.replace("\\", "/"))
            mode = info.external_attr >> 16
            where = f"{label}:{entry}"
            if entry.startswith(("/", "\\")) or (len(entry) > 1 and entry[1] == ":"):
                problems.append(
                    Problem(
                        file=where,
                        message="absolute path inside the archive",
                        value=entry,
                        rule="archive.absolute_path",
                        expected="paths relative to the batch",
                        fix="zip the batch folder from its parent folder",
                    )
                )
            elif ".." in pure.parts:
                problems.append(
                    Problem(
                        file=where,
                        message="path leaves the batch folder (zip-slip)",
                        value=entry,
                        rule="archive.path_traversal",
                        expected="no '..' in archive paths",
                        fix="zip the batch folder itself",
                    )
                )
            if stat.S_ISLNK(mode):
                problems.append(
                    Problem(
                        file=where,
                        message="symbolic link inside the archive",
                        value=entry,
                        rule="archive.link",
                        expected="regular files only",
                        fix="replace the link by the file it points to",
                    )
                )
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                problems.append(
                    Problem(
                        file=where,
                        message="special file inside the archive",
                        value=oct(mode),
                        rule="archive.special_file",
                        expected="regular files only",
                    )
                )
            if info.flag_bits & 0x1:
                problems.append(
                    Problem(
                        file=where,
                        message="encrypted entry",
                        value=entry,
                        rule="archive.encrypted",
                        expected="an unencrypted zip",
                        fix="zip the batch again without a password",
                    )
                )
            total += info.file_size
            if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                ratio = info.file_size / max(info.compress_size, 1)
                problems.append(
                    Problem(
                        file=where,
                        message=f"compression ratio {ratio:.0f}:1 (zip bomb?)",
                        value=info.file_size,
                        rule="archive.bomb",
                        expected=f"a ratio of at most {limits.max_ratio:.0f}:1",
                    )
                )
        if total > limits.max_total_bytes:
            problems.append(
                Problem(
                    file=label,
                    message=f"expands to {total} bytes (zip bomb?)",
                    value=total,
                    rule="archive.bomb",
                    expected=f"at most {limits.max_total_bytes} bytes expanded",
                )
            )
        if not problems:
            try:
                bad = zf.testzip()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                problems.append(
                    Problem(
                        file=label,
                        message=f"corrupt archive ({exc})",
                        rule="archive.corrupt",
                        expected="an intact .zip file",
                        fix="create the zip again",
                    )
                )
            else:
                if bad is not None:
                    problems.append(
                        Problem(
                            file=f"{label}:{bad}",
                            message="CRC check failed: corrupt entry",
                            value=bad,
                            rule="archive.corrupt",
                            expected="an intact .zip file",
                            fix="create the zip again",
                        )
                    )
    return problems


def safe_extract(
    path: str | Path, dest: str | Path, *, name: str | None = None, limits: ArchiveLimits | None = None
) -> list[str]:
    """Extract a zip into ``dest`` after :func:`check_zip`; return the relative paths written.

    Parameters
    ----------
    path
        The zip file.
    dest
        An empty folder to extract into.
    name
        Name for messages.
    limits
        Size limits.

    Returns
    -------
    list of str
        Relative POSIX paths of the files extracted (``__MACOSX/`` resource forks are skipped
        and not listed).

    Raises
    ------
    ValidationFailed
        With every problem of :func:`check_zip`.
    InputError
        If the bytes actually expanded exceed the limit.
    """
    path, dest = Path(path), Path(dest)
    label = name or path.name
    limits = limits or ArchiveLimits()
    problems = check_zip(path, name=label, limits=limits)
    if problems:
        raise ValidationFailed(problems, context=label)
    written: list[str] = []
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            rel = info.filename.replace("\\", "/")
            if info.is_dir() or rel.startswith(_JUNK):
                continue
            target = dest.joinpath(*PurePosixPath(rel).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise InputError(
                            "archive expands beyond the size limit (zip bomb?)",
                            file=label,
                            value=total,
                            rule="archive.bomb",
                            expected=f"at most {limits.max_total_bytes} bytes expanded",
                        )
                    out.write(chunk)
            written.append(rel)
    return written
