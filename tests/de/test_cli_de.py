from __future__ import annotations

import subprocess
import sys

import anndata as ad
import pandas as pd
import pytest

from myocit_omics.cli import main
from myocit_omics.de.fit import RESULT_COLUMNS


@pytest.fixture
def external_cohort(paired_h5ad, tmp_path):
    """A count matrix (genes x samples, plain TSV) and a sample sheet whose columns differ from the ids."""
    adata = ad.read_h5ad(paired_h5ad(n_genes=80, missing=(("MYO-02", "W24"),)))
    counts = pd.DataFrame(adata.layers["counts"].T, index=adata.var_names,
                          columns=[f"lib{i:02d}" for i in range(adata.n_obs)])
    counts.insert(0, "gene_name", adata.var["gene_name"].to_numpy())
    counts.index.name = "gene_id"
    counts_path = tmp_path / "counts.tsv"
    counts.to_csv(counts_path, sep="\t")
    sheet = adata.obs[["patient_id", "visit"]].reset_index()
    sheet.insert(1, "column", counts.columns[1:])
    sheet_path = tmp_path / "samples.csv"
    sheet.to_csv(sheet_path, index=False)
    return counts_path, sheet_path


def test_cli_writes_one_tsv_per_contrast(external_cohort, tmp_path, capsys, planted_ifn):
    counts_path, sheet_path = external_cohort
    out = tmp_path / "out"
    code = main(["de", str(counts_path), "--samples", str(sheet_path), "--design", "~ patient + visit",
                 "--contrast", "visit:W4:W0", "--contrast", "late=visit:W24:W0", "--no-shrink",
                 "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["W4_vs_W0.tsv", "de_design.tsv", "late.tsv"]
    w4 = pd.read_csv(out / "W4_vs_W0.tsv", sep="\t")
    assert tuple(w4.columns) == RESULT_COLUMNS and (w4["contrast"] == "W4_vs_W0").all()
    assert set(w4.sort_values("stat")["gene_name"].head(5)) <= set(planted_ifn)
    design = pd.read_csv(out / "de_design.tsv", sep="\t").set_index("contrast")
    assert design.loc["late", "unpaired_patients"] == "MYO-02(W0,W4)"
    assert "W4_vs_W0" in capsys.readouterr().out


def test_cli_bad_level_exits_2_with_the_valid_levels(external_cohort, tmp_path, capsys):
    counts_path, sheet_path = external_cohort
    code = main(["de", str(counts_path), "--samples", str(sheet_path), "--contrast", "visit:W12:W0",
                 "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "W12" in err and "['W0', 'W24', 'W4']" in err
    assert not (tmp_path / "out").exists()


def test_cli_sample_missing_from_matrix_is_named(external_cohort, tmp_path, capsys):
    counts_path, sheet_path = external_cohort
    sheet = pd.read_csv(sheet_path)
    sheet.loc[0, "column"] = "lib99"
    sheet.to_csv(sheet_path, index=False)
    code = main(["de", str(counts_path), "--samples", str(sheet_path), "--contrast", "visit:W4:W0",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "lib99" in err and "lib00" in err  # lib00 is now a matrix column without a sample


@pytest.mark.parametrize("flag", [[], ["--shrink"]])
def test_cli_shrinks_only_when_asked(external_cohort, tmp_path, flag):
    counts_path, sheet_path = external_cohort
    out = tmp_path / "out"
    code = main(["de", str(counts_path), "--samples", str(sheet_path), "--contrast", "visit:W4:W0",
                 *flag, "--out", str(out)])
    assert code == 0
    shrunk = pd.read_csv(out / "W4_vs_W0.tsv", sep="\t")["log2_fc_shrunk"]
    assert shrunk.notna().any() if flag else shrunk.isna().all()



def test_cli_de_imports_only_what_it_uses_and_pyplot_stays_usable(external_cohort, tmp_path):
    counts_path, sheet_path = external_cohort
    code = (
        "import sys\n"
        "from myocit_omics.cli import main\n"
        f"assert main(['de', {str(counts_path)!r}, '--samples', {str(sheet_path)!r},"
        f" '--contrast', 'visit:W4:W0', '--out', {str(tmp_path / 'out')!r}]) == 0\n"
        "unused = ['numba', 'distributed', 'pydantic', 'myocit_omics.config', 'matplotlib.figure']\n"
        "print(*[m for m in unused if m in sys.modules])\n"
        # pyplot was left lazy: the first use runs it, and it is the module pydeseq2 holds
        "import matplotlib.pyplot as plt, pydeseq2.utils\n"
        "fig = plt.figure(); fig.savefig(sys.argv[1])\n"
        "print(plt is pydeseq2.utils.plt, 'matplotlib.figure' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "fig.png")], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-2:] == ["", "True True"]
    assert (tmp_path / "fig.png").stat().st_size > 0
