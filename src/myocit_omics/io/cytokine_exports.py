"""Former home of the cytokine readers; kept as an alias because ``validate/batch.py`` imports it.

Everything lives in :mod:`myocit_omics.io.cytokine` now; this module only re-exports its
public names and is imported by nothing inside that package (so it adds no cycle).
"""

from myocit_omics.io.cytokine import (
    PLATE_MAP_COLUMNS,
    PLATE_MAP_ROLES,
    PLATFORMS,
    VALUE_COLUMNS,
    CytokineExport,
    detect_platform,
    read_export,
    read_plate_map,
)
from myocit_omics.io.cytokine.common import parse_export_date

__all__ = [
    "PLATE_MAP_COLUMNS",
    "PLATE_MAP_ROLES",
    "PLATFORMS",
    "VALUE_COLUMNS",
    "CytokineExport",
    "detect_platform",
    "parse_export_date",
    "read_export",
    "read_plate_map",
]
