"""Gene sets: GMT reading and the project's shipped IFN signatures.

The shipped files live in the repository's ``gene_sets/`` folder (provenance and
licences in ``gene_sets/README.md``). Users may add any GMT file of their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from myocit_omics.errors import InputError
from myocit_omics.settings import repo_root

#: The IFN sets scored by default: set name -> (file, short label).
IFN_SETS: dict[str, tuple[str, str]] = {
    "RICE_2013_6_ISG": ("ifn_signatures_published.gmt", "rice6"),
    "FENG_2006_5_GENE": ("ifn_signatures_published.gmt", "feng5"),
    "BILGIC_2009_3_GENE": ("ifn_signatures_published.gmt", "bilgic3"),
    "JDM_5_GENE": ("ifn_signatures_published.gmt", "jdm5"),
    "antiviral IFN signature (M75)": ("qusage_BTM_Li2014.gmt", "btm_m75"),
    "type I interferon response (M127)": ("qusage_BTM_Li2014.gmt", "btm_m127"),
    "innate antiviral response (M150)": ("qusage_BTM_Li2014.gmt", "btm_m150"),
    "interferon alpha response (I) (M158.0)": ("qusage_BTM_Li2014.gmt", "btm_m158_0"),
    "interferon alpha response (II) (M158.1)": ("qusage_BTM_Li2014.gmt", "btm_m158_1"),
    "QUSAGE_ISG_227": ("qusage_ISG.gmt", "isg227"),
}


@dataclass(frozen=True)
class GeneSet:
    """One gene set with where it came from."""

    name: str
    genes: tuple[str, ...]
    description: str
    source: str
    sha256: str

    @property
    def label(self) -> str:
        """Short, file-name-safe label (``rice6`` for Rice 2013, else a slug of the name)."""
        if self.name in IFN_SETS:
            return IFN_SETS[self.name][1]
        slug = "".join(c if c.isalnum() else "_" for c in self.name.lower())
        return "_".join(filter(None, slug.split("_")))


def gene_sets_dir() -> Path:
    """Return the repository's ``gene_sets/`` folder."""
    return repo_root() / "gene_sets"


def read_gmt(path: str | Path) -> dict[str, GeneSet]:
    """Read a GMT file.

    Parameters
    ----------
    path
        A GMT file: ``name<TAB>description<TAB>gene...`` per line.

    Returns
    -------
    dict
        Set name -> :class:`GeneSet`, in file order.

    Raises
    ------
    InputError
        If the file is missing, not text, has a line with fewer than 3 fields, or a duplicated set name.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("gene-set file not found", file=str(path), expected="a GMT file", rule="gmt.missing")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path), expected="a GMT text file",
                         rule="gmt.encoding") from None
    sets: dict[str, GeneSet] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 3:
            raise InputError(
                "a GMT line needs a name, a description and at least one gene, separated by tabs",
                file=str(path), row=lineno, value=line[:80], expected="name<TAB>description<TAB>gene...",
                rule="gmt.fields",
            )
        name = fields[0].strip()
        if name in sets:
            raise InputError("gene-set name appears twice", file=str(path), row=lineno, value=name,
                             rule="gmt.duplicate")
        genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        sets[name] = GeneSet(name=name, genes=genes, description=fields[1], source=str(path), sha256=digest)
    return sets


def project_gene_sets() -> dict[str, GeneSet]:
    """Return every set of every GMT file shipped in ``gene_sets/``."""
    out: dict[str, GeneSet] = {}
    for gmt in sorted(gene_sets_dir().glob("*.gmt")):
        out.update(read_gmt(gmt))
    return out


def ifn_gene_sets(extra_gmt: list[str | Path] | None = None) -> dict[str, GeneSet]:
    """Return the default IFN sets (:data:`IFN_SETS`) plus every set of the user's GMT files."""
    shipped = project_gene_sets()
    out = {name: shipped[name] for name in IFN_SETS}
    for gmt in extra_gmt or []:
        out.update(read_gmt(gmt))
    return out


def ifn_genes() -> list[str]:
    """Return the union of the default IFN sets' genes, sorted."""
    return sorted({g for gs in ifn_gene_sets().values() for g in gs.genes})
