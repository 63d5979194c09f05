"""The cytokine readers the project knows, in detection order.

Adding a reader is adding one module to this package with a module-level ``READER``
(:class:`~myocit_omics.io.cytokine.common.Reader`) and one line here. Detection asks each
reader's ``detect`` in this order; the first that recognises the file reads it.
"""

from __future__ import annotations

from myocit_omics.io.cytokine.bioplex import READER as BIOPLEX
from myocit_omics.io.cytokine.common import Reader
from myocit_omics.io.cytokine.generic_long import READER as GENERIC_LONG
from myocit_omics.io.cytokine.msd import READER as MSD
from myocit_omics.io.cytokine.olink import READER as OLINK
from myocit_omics.io.cytokine.xponent import READER as XPONENT

#: Every reader, in detection order (specific layouts before the generic long CSV).
READERS: tuple[Reader, ...] = (XPONENT, MSD, BIOPLEX, OLINK, GENERIC_LONG)

#: Platform names ``read_export`` accepts (aliases excluded).
PLATFORMS: tuple[str, ...] = tuple(r.platform for r in READERS)


def reader_for(platform: str) -> Reader | None:
    """Return the reader of a platform name or alias (case-insensitive), or None."""
    name = str(platform).strip().lower()
    for r in READERS:
        if name == r.platform or name in r.aliases:
            return r
    return None
