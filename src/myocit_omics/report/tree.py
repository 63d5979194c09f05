"""Reading a finished results tree: its tables, its plots and its run manifest.

The report and the dashboard artifacts are views of ``results/<run-id>/``
(docs/contracts.md section 5). Any subset of the tables may exist: a step that was
skipped or failed leaves its tables out, and the manifest says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.errors import InputError

#: Order of the protocol visits; unscheduled visits (``UNS-<n>``) sort after them.
VISIT_ORDER = ("W0", "W4", "W8", "W12", "W24")


def visit_sort_key(visit: object) -> tuple[int, float, str]:
    """Return a key that sorts ``W0 < W4 < ... < W24 < UNS-1 < ...``, anything else last.

    Parameters
    ----------
    visit
        A visit label.

    Returns
    -------
    tuple
        A sortable key.
    """
    text = str(visit)
    m = re.fullmatch(r"W(\d+)", text)
    if m:
        return (0, float(m.group(1)), text)
    m = re.fullmatch(r"UNS-(\d+)", text)
    if m:
        return (1, float(m.group(1)), text)
    return (2, 0.0, text)


def sorted_visits(values: Any) -> list[str]:
    """Return the distinct visit labels of ``values`` in protocol order."""
    return sorted({str(v) for v in values if not pd.isna(v)}, key=visit_sort_key)


def slugify(text: str) -> str:
    """Return ``text`` as lowercase letters, digits and single dashes (a Prefect artifact key part).

    Parameters
    ----------
    text
        Any label, e.g. a contrast id ``W24_vs_W0``.

    Returns
    -------
    str
        E.g. ``w24-vs-w0``; ``x`` if nothing usable is left.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return slug or "x"


def read_results_table(path: str | Path) -> pd.DataFrame:
    """Read one TSV table of the results tree (``NA`` is missing; other text is kept as is).

    Parameters
    ----------
    path
        The ``.tsv`` file.

    Returns
    -------
    pandas.DataFrame
        The table.

    Raises
    ------
    InputError
        If the file cannot be parsed as a tab-separated table with a header.
    """
    path = Path(path)
    try:
        return pd.read_csv(path, sep="\t", na_values=["NA", ""], keep_default_na=False, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the results table: {exc}", file=str(path),
            expected="a tab-separated table with a header row (docs/contracts.md section 5)",
            rule="results.table",
        ) from None


@dataclass
class RunTree:
    """What one results folder holds.

    Attributes
    ----------
    root
        ``results/<run-id>``.
    manifest
        The parsed ``run_manifest.json`` (empty if absent).
    manifest_error
        Why the manifest could not be read, if it could not.
    """

    root: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_error: str | None = None

    @property
    def run_id(self) -> str:
        """The run id: from the manifest, else the folder's name."""
        return str(self.manifest.get("run_id") or self.root.name)

    def table_path(self, name: str) -> Path:
        """Return the path of ``tables/<name>.tsv``."""
        return self.root / "tables" / f"{name}.tsv"

    def has_table(self, name: str) -> bool:
        """Return True if ``tables/<name>.tsv`` exists."""
        return self.table_path(name).is_file()

    def table(self, name: str) -> pd.DataFrame | None:
        """Return ``tables/<name>.tsv``, or None if it does not exist."""
        path = self.table_path(name)
        return read_results_table(path) if path.is_file() else None

    def tables_in(self, folder: str) -> dict[str, Path]:
        """Return ``{stem: path}`` of the TSV files in ``tables/<folder>/``, sorted by name."""
        d = self.root / "tables" / folder
        return {p.stem: p for p in sorted(d.glob("*.tsv"))} if d.is_dir() else {}

    def tables_matching(self, pattern: str) -> dict[str, Path]:
        """Return ``{stem: path}`` of ``tables/<pattern>.tsv`` (a glob), sorted by name."""
        d = self.root / "tables"
        return {p.stem: p for p in sorted(d.glob(f"{pattern}.tsv"))} if d.is_dir() else {}

    def plots(self) -> list[Path]:
        """Return every PNG (and SVG without a PNG twin) under ``plots/``, sorted by path."""
        d = self.root / "plots"
        if not d.is_dir():
            return []
        pngs = sorted(p for p in d.rglob("*.png") if not p.name.startswith("."))
        stems = {p.with_suffix("") for p in pngs}
        svgs = sorted(p for p in d.rglob("*.svg")
                      if not p.name.startswith(".") and p.with_suffix("") not in stems)
        return sorted(pngs + svgs)

    def anndata_files(self) -> list[Path]:
        """Return the ``.h5ad`` files of the run."""
        d = self.root / "anndata"
        return sorted(d.glob("*.h5ad")) if d.is_dir() else []

    def steps(self) -> dict[str, Any]:
        """Return the manifest's per-step records (``{}`` if none)."""
        steps = self.manifest.get("steps")
        return steps if isinstance(steps, dict) else {}

    def step_status(self, names: tuple[str, ...]) -> tuple[str | None, str | None]:
        """Return ``(status, reason)`` of the first of ``names`` the manifest records as not ok.

        Parameters
        ----------
        names
            Step names that produce a section's tables, in pipeline order.

        Returns
        -------
        tuple
            ``(status, reason)``; ``(None, None)`` when the manifest says nothing about them.
        """
        steps = self.steps()
        seen_ok: str | None = None
        for name in names:
            entry = steps.get(name)
            if entry is None:
                continue
            if isinstance(entry, str):
                status, reason = entry, None
            elif isinstance(entry, dict):
                status = str(entry.get("status") or "unknown")
                reason = entry.get("error") or entry.get("reason") or entry.get("message")
            else:
                status, reason = "unknown", None
            if status != "ok":
                return status, (str(reason) if reason else None)
            seen_ok = "ok"
        return seen_ok, None


def open_run(run_dir: str | Path) -> RunTree:
    """Open a results folder for reading.

    Parameters
    ----------
    run_dir
        ``results/<run-id>``.

    Returns
    -------
    RunTree
        The folder, with its manifest parsed (an unreadable manifest is recorded, not raised).

    Raises
    ------
    InputError
        If ``run_dir`` is not a results folder (no ``tables/`` and no ``run_manifest.json``).
    """
    root = Path(run_dir).expanduser().resolve()
    if not root.is_dir():
        raise InputError("results folder not found", file=str(root),
                         expected="a results/<run-id> folder written by `myocit analyze`",
                         rule="report.run_dir")
    if not (root / "run_manifest.json").is_file() and not (root / "tables").is_dir():
        raise InputError("not a results folder: it has neither run_manifest.json nor tables/",
                         file=str(root), expected="a results/<run-id> folder written by `myocit analyze`",
                         rule="report.run_dir")
    run = RunTree(root=root)
    mpath = root / "run_manifest.json"
    if mpath.is_file():
        try:
            data = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            run.manifest_error = f"{mpath.name} is not valid JSON: {exc}"
        else:
            if isinstance(data, dict):
                run.manifest = data
            else:
                run.manifest_error = f"{mpath.name} holds a {type(data).__name__}, expected an object"
    else:
        run.manifest_error = "run_manifest.json is missing"
    return run


def find_key(obj: Any, key: str, *, depth: int = 4) -> Any:
    """Return the first value stored under ``key`` anywhere in nested dicts (breadth first), or None."""
    level = [obj]
    for _ in range(depth):
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                if key in item and item[key] not in (None, "", [], {}):
                    return item[key]
                nxt.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                nxt.extend(v for v in item if isinstance(v, dict | list))
        level = nxt
    return None
