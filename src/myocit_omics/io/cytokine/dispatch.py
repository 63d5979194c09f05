"""Detect which instrument wrote an export and read it with that reader (from the registry)."""

from __future__ import annotations

from pathlib import Path

from myocit_omics.errors import InputError
from myocit_omics.io.cytokine.common import CytokineExport, FileHead
from myocit_omics.io.cytokine.registry import PLATFORMS, READERS, reader_for


def detect_platform(path: str | Path) -> str:
    """Tell the platform of an export from its content (first lines, sheet names, root element).

    Raises
    ------
    InputError
        If no reader recognises the file; the message lists what each reader expects.
    """
    path = Path(path)
    head = FileHead.of(path)
    for reader in READERS:
        if reader.detect(head):
            return reader.platform
    expected = "; ".join(r.layouts for r in READERS)
    if head.suffix in (".xlsx", ".xlsm"):
        raise InputError(
            "Excel file is neither an MSD Discovery Workbench export nor an Olink NPX workbook",
            file=str(path),
            value=", ".join(head.cells[:6]),
            rule="cytokine.format",
            expected=expected,
        )
    raise InputError(
        "cannot tell which instrument wrote this file",
        file=str(path),
        row=1,
        value=head.first[:80],
        rule="cytokine.format",
        expected=expected,
        fix="pass --platform / set `platform` in manifest.yaml, or convert to the generic long CSV "
        "(docs/cytokine_generic_csv.md)",
    )


def read_export(path: str | Path, *, platform: str | None = None) -> CytokineExport:
    """Read any supported cytokine export into the common form.

    Parameters
    ----------
    path
        The export: xPONENT CSV (3.x/4.x, also INTELLIFLEX flat CSV), MSD Discovery
        Workbench CSV/xlsx, Bio-Plex Manager XML, Olink NPX (Explore long CSV, delivery zip,
        Target 96 xlsx) or the generic long CSV.
    platform
        A platform of :data:`~myocit_omics.io.cytokine.registry.PLATFORMS` (or an alias such
        as ``luminex``); detected from the content when None.

    Returns
    -------
    CytokineExport
        The export in the common form.

    Raises
    ------
    InputError, ValidationFailed
        On a missing, unknown or malformed file, naming block, well and value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "export file not found",
            file=str(path),
            rule="cytokine.missing",
            expected="an existing instrument export",
        )
    if platform is None or platform == "":
        platform = detect_platform(path)
    reader = reader_for(platform)
    if reader is None:
        raise InputError(
            "unknown cytokine platform",
            file=str(path),
            value=str(platform),
            expected=f"one of {', '.join(PLATFORMS)}",
            rule="cytokine.platform",
        )
    return reader.read(path)
