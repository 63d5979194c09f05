"""Cytokine instrument exports: one common form, one reader module per instrument.

Modules
-------
``common``
    :class:`CytokineExport` (the common form), the helpers every reader shares, and the
    :class:`Reader` record; imports no reader.
``xponent``, ``msd``, ``bioplex``, ``olink``, ``generic_long``
    One reader each; import only ``common``; each declares ``READER``.
``registry``
    The readers in detection order; imports the reader modules.
``dispatch``
    :func:`detect_platform` and :func:`read_export`, driven by the registry.
``plate_map``
    :func:`read_plate_map`.

The import graph is a tree (``common`` <- readers <- ``registry`` <- ``dispatch`` <- this
package); ``tests/io/test_import_graph.py`` keeps it so.
"""

from myocit_omics.io.cytokine.common import VALUE_COLUMNS, CytokineExport
from myocit_omics.io.cytokine.dispatch import detect_platform, read_export
from myocit_omics.io.cytokine.plate_map import PLATE_MAP_COLUMNS, PLATE_MAP_ROLES, read_plate_map
from myocit_omics.io.cytokine.registry import PLATFORMS, READERS

__all__ = [
    "PLATE_MAP_COLUMNS",
    "PLATE_MAP_ROLES",
    "PLATFORMS",
    "READERS",
    "VALUE_COLUMNS",
    "CytokineExport",
    "detect_platform",
    "read_export",
    "read_plate_map",
]
