"""The batch manifest (``manifest.yaml``, docs/contracts.md section 2): parse and check it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from myocit_omics.errors import Problem

SCHEMA = "myocit-batch/1"
KINDS = ("rnaseq", "cytokine", "clinical", "pk")
NAME = re.compile(r"^[A-Za-z0-9._-]+$")
PLATFORMS = {
    "rnaseq": ("nfcore", "featurecounts", "htseq", "plain", "h5ad"),
    "cytokine": ("xponent", "msd", "bioplex", "olink", "generic"),
    "clinical": (),
    "pk": (),
}
REQUIRED_ROLES = {
    "rnaseq": ("sample_sheet",),
    "cytokine": ("plate_map",),
    "clinical": ("patients", "core_set"),
    "pk": ("pk",),
}
_ROLE = {
    "rnaseq": re.compile(r"^(counts|counts_dir|sample_sheet)$"),
    "cytokine": re.compile(r"^(export(_\d+)?|plate_map)$"),
    "clinical": re.compile(r"^(patients|core_set)$"),
    "pk": re.compile(r"^pk$"),
}
_KEYS = {"schema", "kind", "name", "submitted_by", "note", "platform", "files", "supersedes", "rounding"}
MANIFEST = "manifest.yaml"


@dataclass
class Manifest:
    """A checked manifest.

    Attributes
    ----------
    kind, name, submitted_by, note, platform
        As in the file.
    files
        role -> relative path inside the batch.
    supersedes
        ``{"batch": ..., "reason": ...}`` or None.
    raw
        The parsed YAML mapping.
    """

    kind: str
    name: str | None
    submitted_by: str | None
    note: str
    platform: str | None
    files: dict[str, str]
    supersedes: dict[str, str] | None
    rounding: str = "nearest"
    raw: dict[str, Any] = field(default_factory=dict)


def _p(message: str, **kw: Any) -> Problem:
    kw.setdefault("file", MANIFEST)
    return Problem(message=message, **kw)


def read_manifest(root: Path, present: list[str]) -> tuple[Manifest | None, list[Problem]]:
    """Parse and check ``<root>/manifest.yaml`` against the files present in the batch.

    Parameters
    ----------
    root
        The batch folder.
    present
        Relative POSIX paths of every file in the batch.

    Returns
    -------
    tuple of (Manifest or None, list of Problem)
        The manifest when it can be used, and every problem found.
    """
    path = root / MANIFEST
    if not path.is_file():
        return None, [
            _p(
                "the batch has no manifest.yaml",
                rule="manifest.missing",
                expected="a manifest.yaml at the top of the batch folder",
                fix="add manifest.yaml (see docs/contracts.md section 2)",
                extra={"files": present[:20]},
            )
        ]
    try:
        raw = yaml.safe_load(path.read_bytes().decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [
            _p(
                f"manifest.yaml is not valid YAML ({str(exc).splitlines()[0]})",
                rule="manifest.yaml",
                expected="a YAML mapping",
                fix="check indentation and quoting",
            )
        ]
    if not isinstance(raw, dict):
        return None, [
            _p(
                "manifest.yaml is not a mapping",
                value=type(raw).__name__,
                rule="manifest.shape",
                expected="keys schema, kind, name, files ...",
            )
        ]
    problems: list[Problem] = []
    for key in raw:
        if key not in _KEYS:
            problems.append(
                _p(
                    "unknown key",
                    column=str(key),
                    value=str(key),
                    rule="manifest.unknown_key",
                    expected="one of " + ", ".join(sorted(_KEYS)),
                )
            )
    schema = raw.get("schema", SCHEMA)
    if schema != SCHEMA:
        problems.append(
            _p(
                "unsupported manifest schema",
                column="schema",
                value=schema,
                rule="manifest.schema",
                expected=SCHEMA,
            )
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(
            _p(
                "unknown batch kind",
                column="kind",
                value=kind,
                rule="manifest.kind",
                expected="one of " + ", ".join(KINDS),
            )
        )
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(
            _p(
                "invalid batch name",
                column="name",
                value=name,
                rule="manifest.name",
                expected="letters, digits, '.', '_' or '-'",
                fix="e.g. name: rnaseq-seq1",
            )
        )
    platform = raw.get("platform")
    if platform is not None and kind in PLATFORMS and platform not in PLATFORMS[kind]:
        problems.append(
            _p(
                "unknown platform",
                column="platform",
                value=platform,
                rule="manifest.platform",
                expected="one of " + ", ".join(PLATFORMS[kind]) if PLATFORMS[kind] else "no platform",
            )
        )
    rounding = raw.get("rounding", "nearest")
    if rounding not in ("nearest", "refuse"):
        problems.append(
            _p(
                "unknown rounding policy",
                column="rounding",
                value=rounding,
                rule="manifest.rounding",
                expected="nearest or refuse",
            )
        )
    files = raw.get("files")
    roles: dict[str, str] = {}
    if not isinstance(files, dict) or not files:
        problems.append(
            _p(
                "no files listed",
                column="files",
                value=files,
                rule="manifest.files",
                expected="a mapping role: file name",
                fix="list the files under files:",
            )
        )
    else:
        present_set = set(present)
        for role, rel in files.items():
            role = str(role)
            if kind in _ROLE and not _ROLE[kind].match(role):
                problems.append(
                    _p(
                        "unknown file role for this kind",
                        column=f"files.{role}",
                        value=role,
                        rule="manifest.role",
                        expected=_role_hint(kind),
                    )
                )
                continue
            if not isinstance(rel, str) or not rel.strip():
                problems.append(
                    _p(
                        "file name missing",
                        column=f"files.{role}",
                        value=rel,
                        rule="manifest.file_name",
                        expected="a file name inside the batch",
                    )
                )
                continue
            pure = PurePosixPath(rel)
            if pure.is_absolute() or ".." in pure.parts:
                problems.append(
                    _p(
                        "file path leaves the batch folder",
                        column=f"files.{role}",
                        value=rel,
                        rule="manifest.file_path",
                        expected="a path relative to the batch folder",
                    )
                )
                continue
            rel = str(pure)
            if role == "counts_dir":
                if not any(p.startswith(rel + "/") for p in present_set):
                    problems.append(
                        _p(
                            "folder not found in the batch (or empty)",
                            column=f"files.{role}",
                            value=rel,
                            rule="manifest.file_missing",
                            expected="a folder of HTSeq count files",
                        )
                    )
            elif rel not in present_set:
                problems.append(
                    _p(
                        "file not found in the batch",
                        column=f"files.{role}",
                        value=rel,
                        rule="manifest.file_missing",
                        expected="one of " + ", ".join(sorted(present_set - {MANIFEST})[:10]),
                        fix="correct the file name (names are case-sensitive)",
                    )
                )
            roles[role] = rel
        if kind in REQUIRED_ROLES:
            for role in REQUIRED_ROLES[kind]:
                if role not in files:
                    problems.append(
                        _p(
                            f"required file role {role!r} missing",
                            column="files",
                            value=None,
                            rule="manifest.role_missing",
                            expected=_role_hint(kind),
                        )
                    )
            if kind == "rnaseq" and ("counts" in files) == ("counts_dir" in files):
                problems.append(
                    _p(
                        "give exactly one of counts or counts_dir",
                        column="files",
                        value=None,
                        rule="manifest.role_missing",
                        expected=_role_hint(kind),
                    )
                )
            if kind == "cytokine" and not any(r.startswith("export") for r in files):
                problems.append(
                    _p(
                        "no instrument export listed",
                        column="files",
                        value=None,
                        rule="manifest.role_missing",
                        expected=_role_hint(kind),
                    )
                )
        listed = set(roles.values())
        for rel in present:
            if rel == MANIFEST or rel in listed or any(rel.startswith(d + "/") for d in listed):
                continue
            problems.append(
                _p(
                    "file in the batch is not listed in manifest.yaml",
                    file=rel,
                    value=rel,
                    rule="manifest.unlisted_file",
                    expected="every file listed under files:",
                    fix="list it under files: or remove it from the batch",
                )
            )
    supersedes = raw.get("supersedes")
    if supersedes is not None:
        if (
            not isinstance(supersedes, dict)
            or not str(supersedes.get("batch") or "").strip()
            or not str(supersedes.get("reason") or "").strip()
        ):
            problems.append(
                _p(
                    "supersedes needs the earlier batch and a reason",
                    column="supersedes",
                    value=supersedes,
                    rule="manifest.supersedes",
                    expected="supersedes: {batch: <id or name>, reason: <why>}",
                )
            )
            supersedes = None
        else:
            supersedes = {
                "batch": str(supersedes["batch"]).strip(),
                "reason": str(supersedes["reason"]).strip(),
            }
    submitted_by = raw.get("submitted_by")
    if kind not in KINDS or not roles:
        return None, problems
    # the manifest is usable: return it with its problems, so that the files are checked too
    return Manifest(
        kind=kind,
        name=name,
        submitted_by=None if submitted_by is None else str(submitted_by),
        note=str(raw.get("note") or ""),
        platform=platform,
        files=roles,
        supersedes=supersedes,
        rounding=rounding if rounding in ("nearest", "refuse") else "nearest",
        raw=raw,
    ), problems


def _role_hint(kind: str | None) -> str:
    return {
        "rnaseq": "counts (or counts_dir) and sample_sheet",
        "cytokine": "export (export_2, ...) and plate_map",
        "clinical": "patients and core_set",
        "pk": "pk",
    }.get(kind or "", "roles of the batch kind")
