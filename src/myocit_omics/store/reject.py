"""Rejected hand-ins: ``<home>/rejected/<UTC timestamp>-<name>/`` with the untouched batch and reports.

The folder holds the batch as handed in (a copy for a path outside the inbox; moved there
when it came from the inbox), ``REPORT.md`` for people and ``report.json`` for machines, each
listing every problem: file, row, column, value, rule, what was expected and how to fix it.
The folder is assembled under a temporary name and renamed into place, so a half-written
rejection is never visible.

A batch refused for direct identifiers (any ``identifier.*`` rule) is **not kept**: the folder
holds only the two reports (file, row and column of each identifier, never its value), and a
hand-in from the inbox is deleted once the reports are in place. The lab keeps its original.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from myocit_omics.errors import Problem
from myocit_omics.store.objects import crash_point, fsync_dir


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


#: Rules whose problems mean the hand-in holds direct identifiers: such a batch is never kept.
IDENTIFIER_RULE_PREFIX = "identifier."


def holds_identifiers(problems: list[Problem]) -> bool:
    """Return True if any problem is a direct identifier (then the hand-in must not be kept)."""
    return any(p.rule.startswith(IDENTIFIER_RULE_PREFIX) for p in problems)


NOT_KEPT = (
    "- **The batch was not kept**: it holds direct identifiers (listed below by file, row and column; "
    "values are never copied). Nothing of it is in the study home{inbox}; remove the identifiers "
    "from your own copy and hand it in again."
)


def report_markdown(meta: dict[str, Any], problems: list[Problem]) -> str:
    """Return the human report: what was handed in, and a table of every problem."""
    lines = [
        f"# Batch rejected: {meta['name']}",
        "",
        f"- handed in: `{meta['source']}` by {meta['handed_in_by']} at {meta['at']} (UTC)",
        f"- kind: {meta.get('kind') or 'unknown'}; batch id: `{meta.get('batch_id') or 'n/a'}`",
        f"- **{len(problems)} problem(s)**; nothing of this batch was stored. Fix them all and hand the "
        "batch in again.",
    ]
    if meta.get("kept") is False:
        inbox = "; the file handed in through the inbox was deleted" if meta.get("from_inbox") else ""
        lines.append(NOT_KEPT.format(inbox=inbox))
    lines += [
        "",
        "| # | file | row | column | value | rule | problem | expected | how to fix |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(problems, 1):
        lines.append(
            "| "
            + " | ".join(
                [
                    str(i),
                    _cell(p.file),
                    _cell(p.row),
                    _cell(p.column),
                    _cell(p.value),
                    f"`{p.rule}`",
                    _cell(p.message),
                    _cell(p.expected),
                    _cell(p.fix),
                ]
            )
            + " |"
        )
    lines.append("")
    return "\n".join(lines)


def write_rejection(
    source: Path, problems: list[Problem], *, rejected_root: Path, name: str, move: bool, meta: dict[str, Any]
) -> Path:
    """Create the rejection folder and put the hand-in and its reports in it.

    Parameters
    ----------
    source
        The folder or zip handed in (left untouched: copied, or moved when ``move``).
    problems
        Every problem found.
    rejected_root
        ``<home>/rejected``.
    name
        Batch name for the folder (manifest name, else the hand-in's name).
    move
        Move instead of copy (hand-ins from the inbox).
    meta
        source, handed_in_by, at, kind, batch_id (written into both reports).

    Notes
    -----
    When ``problems`` hold direct identifiers (:func:`holds_identifiers`) the hand-in is neither
    copied nor moved: the folder gets the reports only, and a hand-in from the inbox (``move``)
    is deleted after the reports are in place (a crash in between leaves it in the inbox, where
    the next inbox run refuses and deletes it again).

    Returns
    -------
    Path
        The rejection folder.
    """
    rejected_root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80] or "batch"
    final = rejected_root / f"{stamp}-{safe}"
    n = 2
    while final.exists():
        final = rejected_root / f"{stamp}-{safe}-{n}"
        n += 1
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=rejected_root))
    keep = not holds_identifiers(problems)
    meta = {**meta, "kept": keep, "from_inbox": move}
    report = {
        **meta,
        "status": "rejected",
        "n_problems": len(problems),
        "problems": [p.to_dict() for p in problems],
    }
    (tmp / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (tmp / "REPORT.md").write_text(report_markdown(meta, problems), encoding="utf-8")
    if keep and not move:
        if source.is_dir():
            shutil.copytree(source, tmp / source.name, symlinks=True)
        else:
            shutil.copy2(source, tmp / source.name)
        crash_point("reject:copied")
    os.replace(tmp, final)
    fsync_dir(rejected_root)
    if move:
        crash_point("reject:before-move")
        if keep:
            shutil.move(str(source), str(final / source.name))
        else:
            remove_hand_in(source)
    return final


def remove_hand_in(source: Path) -> None:
    """Delete a hand-in (folder or file); the parent folder is synced so the deletion lasts."""
    if source.is_dir() and not source.is_symlink():
        shutil.rmtree(source)
    else:
        source.unlink(missing_ok=True)
    fsync_dir(source.parent)


def list_rejections(rejected_root: Path) -> list[dict[str, Any]]:
    """Return the rejected hand-ins (newest first): folder, name, when, how many problems."""
    out = []
    if not rejected_root.is_dir():
        return out
    for d in sorted(rejected_root.iterdir(), reverse=True):
        if d.name.startswith(".") or not (d / "report.json").is_file():
            continue
        try:
            rep = json.loads((d / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append(
            {
                "folder": str(d),
                "name": rep.get("name"),
                "at": rep.get("at"),
                "n_problems": rep.get("n_problems"),
                "handed_in_by": rep.get("handed_in_by"),
            }
        )
    return out
