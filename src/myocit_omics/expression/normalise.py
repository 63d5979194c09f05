"""Normalisation that does not drift: gene filter, frozen size-factor reference, log-CPM.

The first run of a study freezes an :class:`ExpressionReference` in ``<home>/references/``:
the genes kept by the filter rule, the reference samples' counts on those genes and their
per-gene log geometric means (DESeq2's median-of-ratios reference). Every later run loads it
(checking its SHA-256), so a sample's size factor, its normalised values and its IFN scores
depend on that sample and the frozen reference only: adding a batch changes nothing for the
samples already there.

Size factors are DESeq2's ``estimateSizeFactorsForMatrix`` with ``geoMeans`` given, except
that DESeq2 then rescales the size factors of the *current* matrix to geometric mean 1, which
depends on the cohort; that rescaling is not done here (the reference samples' size factors
have a geometric mean of about 1 by construction).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from myocit_omics.errors import InputError

#: Defaults of the gene filter rule (``expression.gene_filter`` in study.yaml).
DEFAULT_GENE_FILTER: dict[str, float] = {"min_cpm": 1.0, "min_share": 0.25}

#: Prefix of the frozen reference files in ``<home>/references/``.
REFERENCE_PREFIX = "expression_reference_v"


@dataclass(frozen=True)
class GeneFilterRule:
    """Keep a gene if its CPM is at least ``min_cpm`` in at least ``min_share`` of the samples.

    The share is of the samples the rule is applied to (the QC-passed samples of the run that
    creates the reference), with at least 2 samples.
    """

    min_cpm: float = 1.0
    min_share: float = 0.25

    @classmethod
    def from_config(cls, section: dict[str, Any] | None, *, file: str = "study.yaml") -> GeneFilterRule:
        """Build the rule from ``expression.gene_filter``; refuse unknown keys and bad values."""
        section = dict(section or {})
        unknown = set(section) - set(DEFAULT_GENE_FILTER)
        if unknown:
            raise InputError(
                "unknown key in expression.gene_filter",
                file=file,
                column="expression.gene_filter",
                value=sorted(unknown)[0],
                expected=f"one of {sorted(DEFAULT_GENE_FILTER)}",
                rule="config.gene_filter",
            )
        rule = cls(**{**DEFAULT_GENE_FILTER, **section})
        if not (rule.min_cpm >= 0 and 0 < rule.min_share <= 1):
            raise InputError(
                "invalid gene filter rule",
                file=file,
                column="expression.gene_filter",
                value=section,
                expected="min_cpm >= 0 and 0 < min_share <= 1",
                rule="config.gene_filter",
            )
        return rule

    def min_samples(self, n_samples: int) -> int:
        """Return how many samples must reach ``min_cpm``."""
        return max(2, math.ceil(self.min_share * n_samples)) if n_samples > 1 else 1

    def describe(self) -> str:
        """One line for the manifest."""
        return f"CPM >= {self.min_cpm:g} in >= {self.min_share:.0%} of the samples (at least 2)"

    def apply(self, counts: np.ndarray) -> np.ndarray:
        """Return a boolean mask of kept genes for ``counts`` (samples x genes)."""
        counts = np.asarray(counts, dtype=float)
        lib = counts.sum(axis=1, keepdims=True)
        cpm = counts / np.where(lib > 0, lib, 1.0) * 1e6
        return (cpm >= self.min_cpm).sum(axis=0) >= self.min_samples(counts.shape[0])


def log_geometric_means(counts: np.ndarray) -> np.ndarray:
    """Per-gene mean of log counts over samples (``-inf`` where a sample has a zero)."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(counts, dtype=float)).mean(axis=0)


def size_factors(
    counts: np.ndarray, log_geomeans: np.ndarray, *, sample_ids: list[str] | None = None
) -> np.ndarray:
    """DESeq2 median-of-ratios size factors against given per-gene log geometric means.

    Parameters
    ----------
    counts
        samples x genes (the genes of ``log_geomeans``, same order).
    log_geomeans
        From :func:`log_geometric_means` of the reference samples.
    sample_ids
        For error messages.

    Returns
    -------
    numpy.ndarray
        One size factor per sample; each depends on that sample and the reference only.

    Raises
    ------
    InputError
        If a sample has no count on any gene with a finite reference geometric mean.
    """
    counts = np.asarray(counts, dtype=float)
    usable = np.isfinite(log_geomeans)[None, :] & (counts > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(
            usable,
            np.log(np.where(counts > 0, counts, 1.0))
            - np.where(np.isfinite(log_geomeans), log_geomeans, 0.0)[None, :],
            np.nan,
        )
    empty = ~usable.any(axis=1)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        name = sample_ids[i] if sample_ids else f"sample {i + 1}"
        raise InputError(
            "sample has no counts on the reference genes, so no size factor can be computed",
            file="count matrix",
            column=name,
            value=0,
            expected="positive counts on genes expressed in every reference sample",
            rule="normalise.size_factor",
        )
    return np.exp(np.array([np.median(r[u]) for r, u in zip(ratios, usable, strict=True)]))


def log_cpm(counts: np.ndarray, *, prior_count: float = 0.5) -> np.ndarray:
    """log2 counts per million, limma-voom style: ``log2((c + 0.5) / (lib + 1) * 1e6)``.

    Depends on the sample only (library size = the sample's total count).
    """
    counts = np.asarray(counts, dtype=float)
    lib = counts.sum(axis=1, keepdims=True)
    return np.log2((counts + prior_count) / (lib + 2 * prior_count) * 1e6)


def normalised_log(counts: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """``log2(counts / size_factor + 1)``: the scale of the IFN scores (DESeq2's normTransform)."""
    return np.log2(np.asarray(counts, dtype=float) / np.asarray(sf, dtype=float)[:, None] + 1.0)


@dataclass
class ExpressionReference:
    """The frozen normalisation reference of a study.

    Attributes
    ----------
    version
        1, 2, ... (file ``expression_reference_v<version>``).
    reference
        Which samples: ``pooled:W0`` (pooled visit) or ``healthy_control``.
    sample_ids
        The reference samples.
    gene_ids, gene_names
        The genes kept by the filter rule (the universe of every later run).
    counts
        Reference samples x kept genes, raw counts.
    gene_filter
        The rule, as a dict, and its description.
    ssgsea_span
        ssGSEA normaliser frozen at creation (range of the reference samples' raw scores over the
        default IFN sets), or None.
    vst
        Frozen VST trend parameters, or None when VST was not available.
    created_utc, checksum
        Creation time; SHA-256 of the array file.
    """

    version: int
    reference: str
    sample_ids: list[str]
    gene_ids: list[str]
    gene_names: list[str]
    counts: np.ndarray
    gene_filter: dict[str, Any]
    ssgsea_span: float | None = None
    vst: dict[str, Any] | None = None
    created_utc: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    n_genes_input: int | None = None
    checksum: str | None = None

    @property
    def log_geomeans(self) -> np.ndarray:
        """Per-gene log geometric means of the reference samples' counts."""
        return log_geometric_means(self.counts)

    @property
    def size_factors(self) -> np.ndarray:
        """Size factors of the reference samples."""
        return size_factors(self.counts, self.log_geomeans, sample_ids=self.sample_ids)

    @property
    def name(self) -> str:
        """File stem, e.g. ``expression_reference_v1``."""
        return f"{REFERENCE_PREFIX}{self.version}"

    def manifest(self) -> dict[str, Any]:
        """Small dict for the run manifest."""
        return {
            "name": self.name,
            "version": self.version,
            "reference": self.reference,
            "checksum_sha256": self.checksum,
            "n_samples": len(self.sample_ids),
            "n_genes": len(self.gene_ids),
            "gene_filter": self.gene_filter,
            "created_utc": self.created_utc,
            "ssgsea_span": self.ssgsea_span,
            "vst": self.vst is not None,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``<name>.npz`` then ``<name>.json`` (with the npz SHA-256), read-only, never replacing.

        Each file is written to a temporary name and hard-linked to its final name, which fails
        if the name exists: of two runs freezing the same version at once exactly one writes it
        (the other gets :class:`ReferenceExists` and reuses it, see
        ``expression.pipeline.load_or_create_reference``). The JSON is published last, so a
        reader that finds it finds the arrays complete.

        Raises
        ------
        ReferenceExists
            If this version exists already (a frozen reference is never changed).
        """
        folder = Path(folder)
        json_path = folder / f"{self.name}.json"
        if json_path.exists() or (folder / f"{self.name}.npz").exists():
            raise ReferenceExists(
                "a frozen reference of this version exists already and is never overwritten",
                file=str(json_path),
                value=self.version,
                expected="a new version number",
                rule="reference.exists",
            )
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            counts=self.counts.astype(np.int64),
            gene_ids=np.array(self.gene_ids, dtype=str),
            gene_names=np.array(self.gene_names, dtype=str),
            sample_ids=np.array(self.sample_ids, dtype=str),
        )
        data = buf.getvalue()
        self.checksum = hashlib.sha256(data).hexdigest()
        meta = {
            "schema": "myocit-expression-reference/1",
            "version": self.version,
            "reference": self.reference,
            "created_utc": self.created_utc,
            "gene_filter": self.gene_filter,
            "ssgsea_span": self.ssgsea_span,
            "vst": self.vst,
            "n_genes_input": self.n_genes_input,
            "n_samples": len(self.sample_ids),
            "n_genes": len(self.gene_ids),
            "arrays": f"{self.name}.npz",
            "arrays_sha256": self.checksum,
        }
        _publish_new(folder / f"{self.name}.npz", data, version=self.version)
        _publish_new(json_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"),
                     version=self.version)
        return json_path

    @classmethod
    def load(cls, json_path: str | Path) -> ExpressionReference:
        """Read a frozen reference; refuse it if the arrays' SHA-256 does not match."""
        json_path = Path(json_path)
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(
                f"cannot read the frozen reference: {exc}", file=str(json_path), rule="reference.read"
            ) from None
        npz = json_path.parent / meta["arrays"]
        data = npz.read_bytes() if npz.is_file() else b""
        digest = hashlib.sha256(data).hexdigest()
        if digest != meta.get("arrays_sha256"):
            raise InputError(
                "the frozen reference's arrays do not match their recorded checksum (changed or missing)",
                file=str(npz),
                value=digest,
                expected=f"sha256 {meta.get('arrays_sha256')}",
                rule="reference.checksum",
                fix="restore the file, or remove both files to create a new reference version",
            )
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        return cls(
            version=int(meta["version"]),
            reference=meta["reference"],
            sample_ids=[str(x) for x in arrays["sample_ids"]],
            gene_ids=[str(x) for x in arrays["gene_ids"]],
            gene_names=[str(x) for x in arrays["gene_names"]],
            counts=arrays["counts"],
            gene_filter=meta["gene_filter"],
            ssgsea_span=meta.get("ssgsea_span"),
            vst=meta.get("vst"),
            created_utc=meta["created_utc"],
            n_genes_input=meta.get("n_genes_input"),
            checksum=digest,
        )


class ReferenceExists(InputError):
    """The frozen reference version being written exists already (written by another run)."""


def _publish_new(path: Path, data: bytes, *, version: int) -> None:
    """Write ``data`` to ``path`` (read-only) only if ``path`` does not exist; atomically, never replacing."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    exists = ReferenceExists("a frozen reference of this version exists already and is never overwritten",
                             file=str(path), value=version, expected="a new version number",
                             rule="reference.exists")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o444)  # frozen: read-only for everyone
        try:
            os.link(tmp, path)  # atomic and exclusive: fails if another writer got there first
        except FileExistsError:
            raise exists from None
        except OSError:  # a file system without hard links: check, then rename (a narrow race)
            if path.exists():
                raise exists from None
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def find_references(folder: str | Path) -> dict[int, Path]:
    """Return version -> JSON path of the frozen references in ``folder``."""
    out: dict[int, Path] = {}
    for p in Path(folder).glob(f"{REFERENCE_PREFIX}*.json"):
        m = re.fullmatch(rf"{REFERENCE_PREFIX}(\d+)\.json", p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))
