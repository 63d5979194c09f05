"""Make the small synthetic input of the DESeq2 golden comparison (run once; outputs are committed).

5 patients x 3 visits (W0, W4, W24), MYO-05 misses W4 -> 14 samples, 2500 genes.
Counts are negative binomial with a patient effect per gene, a visit effect on 10 % of the
genes and a DESeq2-like dispersion trend. Run from the repository root:

    .venv/bin/python tests/golden/deseq2_paired/make_inputs.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20261127
N_GENES = 2500


def main() -> None:
    rng = np.random.default_rng(SEED)
    patients = [f"MYO-{i:02d}" for i in range(1, 6)]
    visits = ["W0", "W4", "W24"]
    rows = [(p, v) for p in patients for v in visits if not (p == "MYO-05" and v == "W4")]
    sheet = pd.DataFrame(rows, columns=["patient_id", "visit"])
    sheet.insert(0, "sample_id", [f"RNA-{p}-{v}" for p, v in rows])
    sheet["seq_batch"] = "SEQ1"

    base = np.exp(rng.normal(5.0, 1.8, N_GENES))
    disp = 0.03 + 2.0 / base
    patient_effect = rng.normal(0.0, 0.35, (N_GENES, len(patients)))
    visit_lfc = {v: np.zeros(N_GENES) for v in visits}
    de_w4 = rng.choice(N_GENES, N_GENES // 10, replace=False)
    visit_lfc["W4"][de_w4] = rng.choice([-1, 1], de_w4.size) * rng.normal(1.2, 0.4, de_w4.size)
    de_w24 = rng.choice(N_GENES, N_GENES // 10, replace=False)
    visit_lfc["W24"][de_w24] = rng.choice([-1, 1], de_w24.size) * rng.normal(0.8, 0.3, de_w24.size)
    size_factor = rng.uniform(0.6, 1.6, len(rows))

    counts = np.empty((N_GENES, len(rows)), dtype=np.int64)
    for j, (p, v) in enumerate(rows):
        mu = base * size_factor[j] * np.exp(patient_effect[:, patients.index(p)] + visit_lfc[v] * np.log(2))
        n = 1.0 / disp
        counts[:, j] = rng.negative_binomial(n, n / (n + mu))
    genes = [f"GENE{i:05d}" for i in range(1, N_GENES + 1)]
    table = pd.DataFrame(counts, index=pd.Index(genes, name="gene_id"), columns=sheet["sample_id"])
    table.to_csv(HERE / "counts.tsv.gz", sep="\t", compression={"method": "gzip", "mtime": 0})
    sheet.to_csv(HERE / "samples.csv", index=False)
    truth = pd.DataFrame({"gene_id": genes, "lfc_W4": visit_lfc["W4"], "lfc_W24": visit_lfc["W24"]})
    truth.to_csv(HERE / "truth.tsv.gz", sep="\t", index=False, float_format="%.4f",
                 compression={"method": "gzip", "mtime": 0})


if __name__ == "__main__":
    main()
