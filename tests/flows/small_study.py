"""A small demo study for flow tests: the demo generator with fewer genes, GSEA with few permutations.

The shipped demo takes about two minutes per analysis (20,000 genes, 1,000 GSEA permutations);
the flow tests that run many analyses use this one: the same 16 patients, batches, faults and
visits, 4,000 genes (every named gene of the shipped gene sets kept), 20 GSEA permutations, no
visit x responder contrasts, fewer bootstrap resamples in linking.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

N_GENES = 4000
GSEA_PERMUTATIONS = 20


def write_small_demo(out_dir: Path, *, n_genes: int = N_GENES) -> Path:
    """Write a demo study with ``n_genes`` genes into ``out_dir``; return ``out_dir``."""
    from unittest import mock

    import myocit_omics.synthetic.writer as writer
    from myocit_omics.synthetic.params import DemoParameters, RnaseqParameters

    def small() -> DemoParameters:
        return DemoParameters(rnaseq=RnaseqParameters(n_genes=n_genes))

    with mock.patch.object(writer, "DemoParameters", small):
        writer.write_demo_study(out_dir)
    study = yaml.safe_load((out_dir / "study.yaml").read_text())
    study.setdefault("de", {}).update({"gsea_permutations": GSEA_PERMUTATIONS, "interaction": "none"})
    study["linking"] = {"n_boot": 200, "n_perm": 199, "roc_ci": "delong"}
    (out_dir / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return out_dir


def small_home(workdir: Path, *, kinds: tuple[str, ...] | None = None) -> Path:
    """Generate the small demo in ``workdir/demo`` and ingest its batches into ``workdir/home``.

    ``kinds`` (e.g. ``("rnaseq",)``) keeps only the batches whose folder name starts with one of them.
    """
    from myocit_omics.store import StudyStore

    demo = write_small_demo(workdir / "demo")
    home = workdir / "home"
    home.mkdir(parents=True)
    (home / "study.yaml").write_bytes((demo / "study.yaml").read_bytes())
    shutil.copytree(demo / "signatures", home / "signatures")  # named in study.yaml
    store = StudyStore(home)
    for batch in sorted(p for p in (demo / "batches").iterdir() if p.is_dir()):
        if kinds and not batch.name.startswith(kinds):
            continue
        result = store.ingest(batch, submitted_by="flow-test")
        if result.status == "rejected":
            raise RuntimeError(f"small demo batch {batch.name} rejected: {result}")
    return home
