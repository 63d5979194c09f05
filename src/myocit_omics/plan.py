"""The run's plan: every parameter of an analysis resolved, and checked, before the first step.

A run form (the dashboard's, or ``myocit analyze``'s options) offers visits, a score
reference, contrasts and extra gene-set files. :func:`resolve_plan` turns those choices,
``study.yaml`` and the study catalog into a :class:`RunPlan`, or refuses them with an
:class:`~myocit_omics.errors.InputError` that names the parameter and the fix, before any
step has run and before a results folder exists:

* **visits**: each must be a visit of ``study.yaml``; a visit with no RNA-seq sample is
  noted.
* **contrasts**: a configured contrast whose levels are not among the chosen visits (or
  have no RNA-seq sample there) is left out with a line saying so; one the user named
  explicitly is refused instead. No contrast left: DE and GSEA are not run (noted).
* **reference**: a frozen reference of that kind is reused when one exists; otherwise the
  catalog must hold at least ``MIN_REFERENCE_SAMPLES`` reference samples among the chosen
  visits (QC may still exclude some: then the expression step says so).
* **gene sets**: each extra GMT file must exist, be readable, and have at least one set
  with enough genes (``interferon.min_genes`` / ``de.gsea_min_size``) among the genes of
  the accepted RNA-seq batches.
* **DE covariates** (``de.covariates``): each must have at least two levels among the
  samples the contrasts use.

The plan is plain JSON (:meth:`RunPlan.to_dict`): it goes into ``run_manifest.json``
(``plan``), the run's effective configuration is rebuilt from it inside every task, and the
flow shows it as the markdown artifact ``run-plan`` (:meth:`RunPlan.markdown`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from myocit_omics.config import Contrast, Reference, StudyConfig
from myocit_omics.errors import InputError

#: Design aliases of ``de.design`` / ``de.covariates`` and the catalog columns they mean.
COVARIATE_ALIASES = {"batch": "seq_batch", "patient": "patient_id"}


@dataclass
class RunPlan:
    """What a run will do, resolved before it starts (plain data; see the module docstring)."""

    visits: list[str]
    reference: str
    reference_source: str
    contrasts: list[dict[str, Any]]
    contrasts_left_out: list[dict[str, str]] = field(default_factory=list)
    gene_sets: list[dict[str, Any]] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    steps_not_run: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    requested: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunPlan:
        """Rebuild a plan from :meth:`to_dict`'s output."""
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})

    def apply(self, config: StudyConfig) -> StudyConfig:
        """Return the study configuration as this run uses it (reference, contrasts, gene sets)."""
        kind, _, visit = self.reference.partition(":")
        reference = (Reference(kind="healthy_control", visit=None) if kind == "healthy_control"
                     else Reference(kind="pooled_visit", visit=visit))
        updates: dict[str, Any] = {
            "reference": reference,
            "contrasts": [Contrast(**c) for c in self.contrasts],
        }
        extra = [g["path"] for g in self.gene_sets]
        if extra:
            for section in ("interferon", "de"):
                current = getattr(config, section)
                configured = list(current.get("gene_sets") or [])
                added = [p for p in extra if p not in configured]
                updates[section] = {**current, "gene_sets": configured + added}
        return config.model_copy(update=updates)

    def markdown(self, *, run_id: str) -> str:
        """Return the plan as the markdown of the ``run-plan`` artifact."""
        lines = [f"# Run plan of `{run_id}`", "",
                 "Resolved from study.yaml, the study catalog and the run's parameters before any step "
                 "ran.", "",
                 "| parameter | this run |", "|---|---|",
                 f"| visits | {', '.join(self.visits)} |",
                 f"| IFN score reference | {self.reference} ({self.reference_source}) |",
                 "| contrasts | " + (", ".join(f"{c['id']} ({c['target']} vs {c['reference']})"
                                            for c in self.contrasts) or "none") + " |",
                 "| extra gene sets | " + (", ".join(
                     f"{Path(g['path']).name} ({g['n_usable']} of {g['n_sets']} sets usable)"
                     for g in self.gene_sets) or "none") + " |",
                 f"| DE covariates | {', '.join(self.covariates) or 'none'} |"]
        if self.contrasts_left_out:
            lines += ["", "## Left out", ""]
            lines += [f"- contrast {c['id']}: {c['reason']}" for c in self.contrasts_left_out]
        if self.steps_not_run:
            lines += ["", "## Steps not run", ""]
            lines += [f"- {s}: {why}" for s, why in self.steps_not_run.items()]
        if self.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _refuse(parameter: str, message: str, *, value: Any = None, expected: str | None = None, fix: str,
            rule: str) -> InputError:
    return InputError(message, file=f"parameter {parameter}", value=value, expected=expected, fix=fix,
                      rule=rule)


def _reference_spec(config: StudyConfig, reference: str | None) -> str:
    if reference is None:
        ref = config.reference
        return "healthy_control" if ref.kind == "healthy_control" else f"pooled:{ref.visit}"
    if reference == "healthy_control":
        return reference
    if reference.startswith("pooled:") and config.is_valid_visit(reference.split(":", 1)[1]):
        return reference
    raise _refuse("reference", "unknown reference", value=reference,
                  expected="healthy_control or pooled:<visit> (e.g. pooled:W0)",
                  fix="choose healthy_control or pooled:<one of the study's visits>", rule="reference.spec")


def _contrast(spec: str, config: StudyConfig) -> Contrast:
    for c in config.contrasts:
        if c.id == spec:
            return c
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        raise _refuse("contrasts", "unknown contrast", value=spec,
                      expected=f"one of {[c.id for c in config.contrasts]} or variable:target:reference "
                      "(visit:W4:W0)", fix="name a contrast of study.yaml or write it as visit:TARGET:REF",
                      rule="contrast.spec")
    variable, target, reference = parts
    return Contrast(id=f"{target}_vs_{reference}", variable=variable, target=target, reference=reference)


def _catalog(store: Any) -> Any:
    """Return the RNA-seq sample records of the catalog (sample_id, visit, role, seq_batch, ...)."""
    import pandas as pd

    if store is None:
        return pd.DataFrame(columns=["sample_id", "visit", "role", "seq_batch", "patient_id"])
    samples = store.samples(kind="rnaseq")
    if "role" not in samples:
        samples["role"] = "patient"
    samples["role"] = samples["role"].fillna("patient").astype(str)
    samples["visit"] = samples["visit"].astype(str)
    return samples


def _gene_universe(store: Any) -> set[str]:
    """Gene ids and names of every accepted RNA-seq batch (read only when extra GMT files are given)."""
    from myocit_omics.io.counts import read_counts

    genes: set[str] = set()
    if store is None:
        return genes
    for b in store.batches(kind="rnaseq"):
        m = b.manifest
        path = b.dirs.get("counts_dir") or b.files["counts"]
        fmt = m.get("platform") or ("htseq" if "counts_dir" in b.dirs else None)
        matrix = read_counts(path, fmt=fmt, rounding=m.get("rounding", "nearest"))
        genes |= {str(g) for g in matrix.counts.index}
        genes |= {str(g) for g in matrix.gene_names.astype(str)}
    return genes


def resolve_plan(config: StudyConfig, *, store: Any = None, home: str | Path | None = None,
                 visits: list[str] | None = None, reference: str | None = None,
                 gene_sets: list[str] | None = None, contrasts: list[str] | None = None) -> RunPlan:
    """Resolve and check a run's parameters against study.yaml and the catalog.

    Parameters
    ----------
    config
        The study configuration.
    store
        The study store (its catalog gives the RNA-seq samples); None checks the parameters
        against study.yaml only.
    home
        The study home (its ``references/`` tell whether a frozen reference exists).
    visits, reference, gene_sets, contrasts
        The run form's values; None or empty: the study's defaults.

    Returns
    -------
    RunPlan

    Raises
    ------
    InputError
        Naming the parameter (``file`` is ``parameter <name>``) and the fix.
    """
    requested = {"visits": visits, "reference": reference, "gene_sets": gene_sets, "contrasts": contrasts}
    notes: list[str] = []
    samples = _catalog(store)
    have_catalog = store is not None

    # visits
    if visits:
        bad = [v for v in visits if not config.is_valid_visit(v)]
        if bad:
            raise _refuse("visits", "unknown visit", value=bad, expected=f"some of {config.visits}",
                          fix=f"choose among {', '.join(config.visits)}", rule="visit.vocabulary")
        run_visits = list(dict.fromkeys(visits))
    else:
        run_visits = list(config.omics_visits)
    chosen = samples[samples["visit"].isin(run_visits)]
    per_visit = chosen[chosen["role"] != "healthy_control"].groupby("visit").size().to_dict()
    if have_catalog:
        empty = [v for v in run_visits if not per_visit.get(v)]
        if empty:
            notes.append(f"no RNA-seq sample of a patient at visit(s) {', '.join(empty)}")

    # contrasts
    explicit = bool(contrasts)
    candidates = [_contrast(c, config) for c in contrasts] if explicit else list(config.contrasts)
    kept: list[Contrast] = []
    left_out: list[dict[str, str]] = []
    for c in candidates:
        if c.variable != "visit":
            kept.append(c)
            continue
        outside = [lvl for lvl in (c.target, c.reference) if lvl not in run_visits]
        unsampled = [lvl for lvl in (c.target, c.reference) if have_catalog and lvl in run_visits
                     and not per_visit.get(lvl)]
        if outside:
            reason = f"visit(s) {', '.join(outside)} not among the chosen visits {', '.join(run_visits)}"
        elif unsampled:
            reason = f"no RNA-seq sample at visit(s) {', '.join(unsampled)}"
        else:
            kept.append(c)
            continue
        if explicit:
            raise _refuse("contrasts", f"contrast {c.id} cannot be run: {reason}", value=c.id,
                          expected="a contrast whose two visits are among the chosen visits",
                          fix=f"add {', '.join(outside or unsampled)} to visits, or leave contrast {c.id} "
                          "out",
                          rule="contrast.visits")
        left_out.append({"id": c.id, "reason": reason})
    for c in left_out:
        notes.append(f"contrast {c['id']} left out: {c['reason']}")
    steps_not_run: dict[str, str] = {}
    if not kept:
        steps_not_run["de"] = "no contrast can be run with the chosen visits"

    # reference
    spec = _reference_spec(config, reference)
    source = _check_reference(config, spec, samples, run_visits, home=home, have_catalog=have_catalog)

    # extra gene sets
    gmt_entries = _check_gene_sets(config, gene_sets or [], store)

    # DE covariates
    covariates = [str(c) for c in (config.de.get("covariates") or [])]
    if isinstance(config.de.get("covariates"), str):
        covariates = [config.de["covariates"]]
    if kept and have_catalog:
        levels_used = {lvl for c in kept if c.variable == "visit" for lvl in (c.target, c.reference)}
        used = chosen[(chosen["visit"].isin(levels_used)) & (chosen["role"] != "healthy_control")]
        for cov in covariates:
            column = COVARIATE_ALIASES.get(cov, cov)
            if column not in used:
                notes.append(f"DE covariate {cov} is not a sample-sheet column: checked when DE runs")
                continue
            values = sorted({str(v) for v in used[column].dropna()})
            if len(values) < 2:
                raise _refuse("de.covariates (study.yaml)",
                              f"DE covariate {cov} has one level ({', '.join(values) or 'none'}) among the "
                              f"samples of visits {', '.join(sorted(levels_used))}, so it cannot be "
                              "estimated",
                              value=cov, expected="a covariate with at least two levels among those samples",
                              fix=f"remove {cov} from de.covariates in study.yaml, or choose visits whose "
                              f"samples span more than one {cov}", rule="de.covariate_levels")

    return RunPlan(visits=run_visits, reference=spec, reference_source=source,
                   contrasts=[c.model_dump() for c in kept], contrasts_left_out=left_out,
                   gene_sets=gmt_entries, covariates=covariates, steps_not_run=steps_not_run, notes=notes,
                   requested=requested)


def _check_reference(config: StudyConfig, spec: str, samples: Any, run_visits: list[str], *,
                     home: str | Path | None, have_catalog: bool) -> str:
    from myocit_omics.expression.normalise import ExpressionReference, find_references
    from myocit_omics.interferon.reference import MIN_REFERENCE_SAMPLES

    folder = Path(home) / "references" if home is not None else None
    found = find_references(folder) if folder is not None and folder.is_dir() else {}
    pinned = config.expression.get("reference_version")
    if pinned is not None:
        if int(pinned) not in found:
            raise _refuse("expression.reference_version (study.yaml)", "pinned frozen reference not found",
                          value=pinned, expected=f"one of {sorted(found) or 'none yet'}",
                          fix="pin an existing version, or remove expression.reference_version to create one",
                          rule="reference.missing")
        return f"pinned frozen reference v{pinned}"
    for version in sorted(found, reverse=True):
        try:
            if ExpressionReference.load(found[version]).reference == spec:
                return f"frozen reference v{version}, reused"
        except InputError:
            continue
    if not have_catalog:
        return "frozen reference to be created by this run"
    chosen = samples[samples["visit"].isin(run_visits)]
    if spec == "healthy_control":
        n = int((chosen["role"] == "healthy_control").sum())
        where = "samples with role healthy_control at the chosen visits"
        fix = ("hand in healthy-control RNA-seq samples, or choose pooled:<visit> as reference "
               f"(e.g. pooled:{run_visits[0]})")
    else:
        visit = spec.split(":", 1)[1]
        n = int(((chosen["visit"] == visit) & (chosen["role"] != "healthy_control")).sum())
        where = f"patient samples at visit {visit} among the chosen visits"
        fix = (f"add {visit} to visits, or choose a reference visit among {', '.join(run_visits)}"
               if visit not in run_visits else "choose another reference visit")
    if n < MIN_REFERENCE_SAMPLES:
        raise _refuse("reference", f"too few reference samples for {spec}: {n} {where}", value=n,
                      expected=f"at least {MIN_REFERENCE_SAMPLES}", fix=fix, rule="reference.samples")
    return f"frozen reference to be created from {n} {where}"


def _check_gene_sets(config: StudyConfig, paths: list[str], store: Any) -> list[dict[str, Any]]:
    from myocit_omics.genesets import read_gmt

    if not paths:
        return []
    need = max(int(config.interferon.get("min_genes", 3)), int(config.de.get("gsea_min_size", 3)))
    universe = _gene_universe(store) if store is not None else None
    out = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise _refuse("gene_sets", "gene-set file not found", value=str(raw), expected="a GMT file",
                          fix="give the path of a GMT file on the machine that runs the analysis",
                          rule="gmt.missing")
        try:
            sets = read_gmt(path)
        except InputError as exc:
            raise _refuse("gene_sets", f"gene-set file cannot be read: {exc.problem.message}", value=str(raw),
                          expected="a GMT file (name<TAB>description<TAB>gene...)",
                          fix="fix the file or leave it out", rule="gmt.read") from None
        if universe is None:
            usable = len(sets)
        else:
            usable = sum(1 for gs in sets.values() if len(set(gs.genes) & universe) >= need)
        if usable == 0:
            raise _refuse("gene_sets", f"no gene set of {path.name} has {need} or more genes measured in "
                          f"this study ({len(sets)} set(s) in the file)", value=str(raw),
                          expected=f"at least one set with >= {need} genes among the RNA-seq genes",
                          fix="use gene symbols or Ensembl ids of the study's genes, with larger sets, or "
                          "leave the file out", rule="gmt.coverage")
        out.append({"path": str(path.resolve()), "n_sets": len(sets), "n_usable": usable})
    return out
