"""Bio-Rad Bio-Plex Manager XML exports (Bio-Plex Manager 6.x, schema namespace ``Bio-Plex_5``).

Layout (../shared/fixtures/SOURCES.md; the schema as Benchling's allotropy reads it): a root
``BioPlexManager`` in the namespace ``http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5``
with unqualified children:

``Wells/Well`` (``RowNo``, ``ColNo``, ``WellNo``)
    Acquisition per well: ``PlateID``, ``AcquisitionTime``, ``BeadRegions/BeadRegion``
    (``RegionNumber``; ``RegionCount`` = bead count, ``Median``, ``Mean`` ...).
``Samples/{Blanks,Controls,Standards,Unknowns}/<kind>``
    One entry per sample (``Label``, ``Description``, ``Dilution``), its per-analyte summary
    (``Analytes/Analyte``: ``AnalyteName``, ``ExpectedConc`` for standards and controls,
    ``ObsConc``, ``PercentCV``) and its wells (``MemberWells/MemberWell`` with ``RowNo``,
    ``ColNo`` and per bead region ``MWAnalytes/MWAnalyte``: ``AnalyteName``, ``Reading`` = the
    well's FI, ``MWObsConc`` = the instrument's concentration, valid when ``ReadingOK="true"``).
``StandardCurves/Interpolators/Interpolator`` (``RegionNumber``, ``IsValid``)
    The instrument's curve per analyte: ``AnalyteName``, ``ConcentrationUnits``,
    ``Regression`` (e.g. ``Logistic - 5PL``), ``EquationErr`` when it could not fit.

Mapping to the common form, one row per member well and bead region: ``role`` from the
group (Blanks -> background, Controls -> control, Standards -> standard, Unknowns -> sample);
``sample`` = ``Label`` (``S1``, ``X12``, ``B``); ``signal`` = ``Reading`` (FI, not blank
subtracted; ``raw`` its string); ``instrument_value`` = ``MWObsConc`` when ``ReadingOK``;
``expected_conc`` = the sample's ``ExpectedConc`` (0, Bio-Plex's "not set", becomes NaN);
``dilution_factor`` = ``Dilution``; ``bead_count`` = ``RegionCount`` of the well's bead region
when the export holds the well's acquisition; ``cv_pct`` = the sample's ``PercentCV``;
``unit`` = ``ConcentrationUnits``; ``plate_id`` = the wells' ``PlateID`` (else the file stem).

Refused, naming file, well, bead region and value: XML that does not parse (a truncated
file: line and column of the break), a root element or namespace that is not Bio-Plex
Manager's, a member well without a well position, a bead region without ``RegionNumber`` or
``AnalyteName``, a well that lacks a bead region the other wells have, a ``Reading`` that is
not a number, no member wells at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.cytokine.common import (
    CytokineExport,
    FileHead,
    Reader,
    finish_values,
    is_missing_text,
)

#: Namespaces of Bio-Plex Manager exports this reader knows.
KNOWN_NAMESPACES: tuple[str, ...] = ("http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5",)
#: Sample groups -> role in the common form.
GROUPS: dict[str, tuple[str, str]] = {
    "Blanks": ("Blank", "background"),
    "Controls": ("Control", "control"),
    "Standards": ("Standard", "standard"),
    "Unknowns": ("Unknown", "sample"),
}
_ROOT = re.compile(r"^\{([^}]*)\}BioPlexManager$")


def _text(el: ET.Element | None, tag: str) -> str:
    if el is None:
        return ""
    child = el.find(tag)
    return "" if child is None or child.text is None else child.text.strip()


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _well_name(el: ET.Element) -> str | None:
    try:
        row, col = int(el.get("RowNo", "")), int(el.get("ColNo", ""))
    except ValueError:
        return None
    if not (1 <= row <= 16 and 1 <= col <= 24):
        return None
    return f"{chr(ord('A') + row - 1)}{col}"


def read_bioplex(path: str | Path) -> CytokineExport:
    """Read a Bio-Plex Manager XML export into the common form.

    Parameters
    ----------
    path
        The ``.xml`` export.

    Returns
    -------
    CytokineExport
        ``platform="bioplex"``, ``fmt="bioplex-xml"``, ``scale="mfi"``.

    Raises
    ------
    InputError, ValidationFailed
        On malformed content (see the module docstring), naming file, well, region and value.
    """
    path = Path(path)
    f = str(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", (None, None))
        raise InputError(
            f"not well-formed XML ({exc}); the file is truncated or damaged{_last_well(path, line)}",
            file=f,
            row=line,
            column=f"character {col}" if col is not None else None,
            rule="bioplex.xml",
            expected="a complete Bio-Plex Manager XML export ending with </bpm:BioPlexManager>",
            fix="export the XML again from Bio-Plex Manager, or copy the complete file",
        ) from None
    m = _ROOT.match(root.tag)
    if not m:
        raise InputError(
            "not a Bio-Plex Manager XML export: the root element is not BioPlexManager in a namespace",
            file=f,
            row=1,
            value=root.tag,
            rule="bioplex.root",
            expected="<bpm:BioPlexManager xmlns:bpm='http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5'>",
        )
    if m.group(1) not in KNOWN_NAMESPACES:
        raise InputError(
            "unknown Bio-Plex Manager XML namespace (a schema version this reader does not know)",
            file=f,
            column="xmlns",
            value=m.group(1),
            rule="bioplex.namespace",
            expected=f"one of {', '.join(KNOWN_NAMESPACES)}",
            fix="export with Bio-Plex Manager 6.x, or convert to the generic long CSV "
            "(docs/cytokine_generic_csv.md)",
        )
    problems: list[Problem] = []

    # acquisition per well: plate id and bead counts by region
    plate_ids: list[str] = []
    counts: dict[tuple[str, str], float] = {}
    for w in root.iterfind("Wells/Well"):
        name = _well_name(w)
        pid = _text(w, "PlateID")
        if pid:
            plate_ids.append(pid)
        if name is None:
            continue
        for br in w.iterfind("BeadRegions/BeadRegion"):
            counts[(name, br.get("RegionNumber", ""))] = _float(_text(br, "RegionCount"))
    plate_id = plate_ids[0] if len(set(plate_ids)) == 1 else path.stem

    # the instrument's curves
    units: dict[str, str] = {}
    ana_rows: dict[str, dict[str, Any]] = {}
    for it in root.iterfind("StandardCurves/Interpolators/Interpolator"):
        region = it.get("RegionNumber", "")
        name = _text(it, "AnalyteName")
        units[region] = _text(it, "ConcentrationUnits")
        ana_rows[region] = {
            "analyte": name,
            "bead_id": region,
            "unit": units[region],
            "analysis_type": _text(it, "Regression"),
            "instrument_curve_valid": it.get("IsValid", "") == "true",
            "instrument_curve_error": _text(it, "EquationErr"),
        }

    rows: list[dict[str, Any]] = []
    std_rows: list[dict[str, Any]] = []
    regions_of_well: dict[str, set[str]] = {}
    region_names: dict[str, str] = {}
    samples = root.find("Samples")
    for group, (tag, role) in GROUPS.items():
        for s in samples.iterfind(f"{group}/{tag}") if samples is not None else []:
            label = _text(s, "Label")
            dil = _float(_text(s, "Dilution"))
            summary: dict[str, dict[str, float]] = {}
            for a in s.iterfind("Analytes/Analyte"):
                exp = _float(_text(a, "ExpectedConc"))
                summary[a.get("RegionNumber", "")] = {
                    "expected": exp if exp > 0 else float("nan"),
                    "cv": _float(_text(a, "PercentCV")),
                }
                if role in ("standard", "control") and exp > 0:
                    std_rows.append(
                        {
                            "analyte": _text(a, "AnalyteName"),
                            "standard": label,
                            "expected_conc": exp,
                            "kind": role,
                        }
                    )
            for mw in s.iterfind("MemberWells/MemberWell"):
                well = _well_name(mw)
                where = f"{group[:-1].lower()} {label or '?'}"
                if well is None:
                    problems.append(
                        Problem(
                            file=f,
                            column="MemberWell RowNo/ColNo",
                            value=f"RowNo={mw.get('RowNo')!s} ColNo={mw.get('ColNo')!s}",
                            message=f"{where}: member well without a valid well position",
                            expected="RowNo 1-16 and ColNo 1-24",
                            rule="bioplex.well",
                        )
                    )
                    continue
                regions_of_well.setdefault(well, set())
                for mwa in mw.iterfind("MWAnalytes/MWAnalyte"):
                    region = mwa.get("RegionNumber", "").strip()
                    analyte = _text(mwa, "AnalyteName")
                    if not region or not analyte:
                        problems.append(
                            Problem(
                                file=f,
                                column="MWAnalyte RegionNumber/AnalyteName",
                                value=f"RegionNumber={region!r} AnalyteName={analyte!r}",
                                message=f"well {well} ({where}): bead region without "
                                f"{'RegionNumber' if not region else 'AnalyteName'}",
                                expected="<MWAnalyte RegionNumber='n'><AnalyteName>...",
                                rule="bioplex.region",
                            )
                        )
                        continue
                    region_names.setdefault(region, analyte)
                    regions_of_well[well].add(region)
                    reading = mwa.find("Reading")
                    raw = "" if reading is None or reading.text is None else reading.text.strip()
                    if is_missing_text(raw):
                        signal = float("nan")
                    else:
                        signal = _float(raw)
                        if not np.isfinite(signal):
                            problems.append(
                                Problem(
                                    file=f,
                                    column=f"Reading ({analyte}, region {region})",
                                    value=raw,
                                    message=f"well {well} ({where}), analyte {analyte}: FI reading is "
                                    "not a number",
                                    expected="a number (the well's fluorescence intensity)",
                                    rule="bioplex.number",
                                )
                            )
                            continue
                    obs = mwa.find("MWObsConc")
                    inst = float("nan")
                    if obs is not None and obs.get("ReadingOK", "").lower() == "true":
                        inst = _float((obs.text or "").strip())
                    code = reading.get("Code", "0") if reading is not None else ""
                    valid = reading is None or reading.get("Valid", "true").lower() == "true"
                    info = summary.get(region, {})
                    rows.append(
                        {
                            "plate_id": plate_id,
                            "well": well,
                            "location": f"{well} (WellNumber {mw.get('WellNumber', '')})",
                            "sample": label,
                            "role": role,
                            "analyte": analyte,
                            "raw": raw,
                            "signal": signal,
                            "instrument_value": inst,
                            "instrument_flag": "" if valid else "instrument_error",
                            "unit": units.get(region, ""),
                            "dilution_factor": dil,
                            "bead_count": counts.get((well, region), float("nan")),
                            "cv_pct": info.get("cv", float("nan")),
                            "expected_conc": info.get("expected", float("nan"))
                            if role in ("standard", "control")
                            else float("nan"),
                            "_code": code,
                        }
                    )
    if not rows and not problems:
        raise InputError(
            "no member wells with readings in the Bio-Plex Manager export",
            file=f,
            rule="bioplex.no_data",
            expected="Samples/.../MemberWells/MemberWell/MWAnalytes/MWAnalyte/Reading",
        )
    all_regions = set(region_names)
    for well, regs in regions_of_well.items():
        for region in sorted(all_regions - regs, key=lambda r: (len(r), r)):
            problems.append(
                Problem(
                    file=f,
                    column=f"MWAnalyte region {region}",
                    value=f"well {well}",
                    message=f"well {well} lacks bead region {region} ({region_names[region]}) that the "
                    "other wells have (missing bead region)",
                    expected="every analyte's bead region in every member well",
                    rule="bioplex.missing_region",
                )
            )
    if problems:
        raise ValidationFailed(problems, context=f)
    codes = [r.pop("_code") for r in rows]
    values = finish_values(rows)
    order = list(dict.fromkeys(values["analyte"]))
    by_name = {r["analyte"]: r for r in ana_rows.values()}
    analytes = pd.DataFrame(
        [
            by_name.get(a, {"analyte": a, "bead_id": next(k for k, v in region_names.items() if v == a)})
            for a in order
        ]
    )
    meta: dict[str, Any] = dict(root.attrib)
    for key in ("AuthorName", "NativeDocumentName", "Description", "AssayLotID"):
        meta[key] = _text(root, key)
    meta["plate_ids"] = sorted(set(plate_ids))
    meta["reading_codes"] = {c: codes.count(c) for c in set(codes)}
    return CytokineExport(
        path=path,
        platform="bioplex",
        fmt="bioplex-xml",
        scale="mfi",
        values=values,
        analytes=analytes,
        standards=pd.DataFrame(std_rows, columns=["analyte", "standard", "expected_conc", "kind"]),
        metadata=meta,
        blocks={},
        problems=[],
    )


def _last_well(path: Path, line: int | None) -> str:
    """Name the last well opened before ``line`` (for a truncated file's message), or ""."""
    if not line:
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[: int(line)]
    for ln in reversed(text):
        m = re.search(r'<(?:Member)?Well RowNo="(\d+)" ColNo="(\d+)"', ln)
        if m:
            row, col = int(m.group(1)), int(m.group(2))
            if 1 <= row <= 16:
                return f"; the last well read is {chr(ord('A') + row - 1)}{col}"
    return ""


def _detect_bioplex(head: FileHead) -> bool:
    if not head.text.lstrip().startswith("<"):
        return False
    return bool(re.search(r"<\s*(?:\w+:)?BioPlexManager[\s>]", head.text[:4096]))


#: Registry entry (:mod:`myocit_omics.io.cytokine.registry`).
READER = Reader(
    platform="bioplex",
    layouts="a Bio-Rad Bio-Plex Manager XML export (root element BioPlexManager)",
    detect=_detect_bioplex,
    read=read_bioplex,
    aliases=("bio-plex", "bio-rad"),
)
