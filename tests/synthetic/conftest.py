"""Fixtures of the synthetic-study tests: the committed demo study, read from its FILES."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo"


@pytest.fixture(scope="session")
def demo() -> Path:
    """The committed demo study folder."""
    if not (DEMO / "study.yaml").is_file():
        pytest.fail("data/demo is missing: run `myocit demo --regenerate`")
    return DEMO


@pytest.fixture(scope="session")
def truth(demo: Path) -> dict:
    """truth/faults.json, truth/luminex_plates.json and the truth tables."""
    return {
        "faults": json.loads((demo / "truth" / "faults.json").read_text()),
        "plates": json.loads((demo / "truth" / "luminex_plates.json").read_text()),
        "patients": pd.read_csv(demo / "truth" / "patients.tsv", sep="\t"),
        "visits": pd.read_csv(demo / "truth" / "visits.tsv", sep="\t"),
        "pk": pd.read_csv(demo / "truth" / "pk_true.tsv", sep="\t"),
        "missing": pd.read_csv(demo / "truth" / "clinical_missing.tsv", sep="\t"),
    }


@pytest.fixture(scope="session")
def rnaseq(demo: Path) -> dict:
    """Both sequencing batches read with pandas, columns renamed to sample ids, joined by gene_id."""
    b1 = demo / "batches" / "rnaseq-seq1"
    b2 = demo / "batches" / "rnaseq-seq2"
    nf = pd.read_csv(b1 / "salmon.merged.gene_counts.tsv.gz", sep="\t", index_col="gene_id")
    names = nf.pop("gene_name")
    with gzip.open(b2 / "featurecounts.txt.gz", "rt") as fh:
        first = fh.readline()
        fc = pd.read_csv(fh, sep="\t", index_col="Geneid")
    annotation = fc[["Chr", "Start", "End", "Strand", "Length"]]
    fc = fc.drop(columns=annotation.columns)
    sheet1 = pd.read_csv(b1 / "samples.csv")
    sheet2 = pd.read_csv(b2 / "samples.csv")
    fc = fc.rename(columns=dict(zip(sheet2["column"], sheet2["sample_id"], strict=True)))
    counts = nf.join(fc, how="outer")
    sheet = pd.concat([sheet1, sheet2.drop(columns="column")], ignore_index=True).set_index("sample_id")
    return {
        "counts": counts,
        "names": names,
        "sheet": sheet,
        "sheet1": sheet1,
        "sheet2": sheet2,
        "nf": nf,
        "fc": fc,
        "fc_first_line": first,
        "annotation": annotation,
    }


def xponent_blocks(path: Path) -> dict[str, list[list[str]]]:
    """Split an xPONENT CSV into its DataType blocks (header row first), with plain csv."""
    text = path.read_text(encoding="utf-8")
    blocks: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or all(c == "" for c in row):
            current = None
            continue
        if row[0] == "DataType:":
            current = blocks.setdefault(row[1], [])
            continue
        if current is not None:
            current.append(row)
    return blocks


@pytest.fixture(scope="session")
def luminex(demo: Path) -> list[dict]:
    """Both Luminex plates: the export's blocks, its header lines and its plate map."""
    plates = []
    for k in (1, 2):
        folder = demo / "batches" / f"cytokine-luminex-plate{k}"
        export = next(p for p in folder.glob("*.csv") if p.name != "plate_map.csv")
        plates.append(
            {
                "export": export,
                "blocks": xponent_blocks(export),
                "plate_map": pd.read_csv(folder / "plate_map.csv"),
            }
        )
    return plates
