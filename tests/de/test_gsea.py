from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.de.gsea import (
    GSEA_COLUMNS,
    ORA_COLUMNS,
    enrichment_plot,
    enrichment_plots,
    load_gene_sets,
    ranking_from_results,
    run_ora,
    run_prerank,
)
from myocit_omics.genesets import IFN_SETS, GeneSet


def gs(name: str, genes: list[str]) -> GeneSet:
    return GeneSet(name=name, genes=tuple(genes), description="", source="/somewhere/my_sets.gmt", sha256="0")


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, dict[str, GeneSet]]:
    rng = np.random.default_rng(11)
    genes = [f"G{i:04d}" for i in range(1500)]
    stat = rng.normal(0, 1, len(genes))
    stat[:25] -= 4  # DOWN_SET at the bottom of the ranking
    stat[25:50] += 4  # UP_SET at the top
    padj = np.where(np.abs(stat) > 3, 1e-4, 0.5)
    res = pd.DataFrame({"gene_id": [f"ENSG{i}" for i in range(len(genes))], "gene_name": genes,
                        "stat": stat, "log2_fc": stat / 2, "padj": padj})
    sets = {"DOWN_SET": gs("DOWN_SET", genes[:25]), "UP_SET": gs("UP_SET", genes[25:50])}
    for k in range(8):
        sets[f"RANDOM_{k}"] = gs(f"RANDOM_{k}", list(rng.choice(genes[50:], 25, replace=False)))
    sets["TINY"] = gs("TINY", [genes[0], "NOT_MEASURED"])
    return res, sets


def test_ranking_collapses_duplicate_symbols_and_drops_untested_genes():
    res = pd.DataFrame({"gene_id": ["a", "b", "c", "d", "e"], "gene_name": ["X", "X", None, "Y", "Z"],
                        "stat": [1.0, -3.0, 2.0, np.nan, 0.5]})
    ranking, notes = ranking_from_results(res)
    assert ranking.to_dict() == {"c": 2.0, "Z": 0.5, "X": -3.0}
    assert any("1 gene(s) without" in n for n in notes) and any("duplicated" in n for n in notes)


def test_prerank_finds_the_planted_sets_in_the_right_direction(planted):
    res, sets = planted
    ranking, _ = ranking_from_results(res)
    table, _pre, notes = run_prerank(ranking, sets, contrast_id="W4_vs_W0", permutations=200, seed=3)
    assert list(table.columns) == list(GSEA_COLUMNS)
    by = table.set_index("gene_set")
    assert "TINY" not in by.index and any("1 gene set(s) not tested" in n for n in notes)
    assert by["nes"].idxmin() == "DOWN_SET" and by["nes"].idxmax() == "UP_SET"
    assert by.loc["DOWN_SET", "p_value"] < 0.01 and by.loc["DOWN_SET", "fdr"] < 0.05
    assert by.loc[[f"RANDOM_{k}" for k in range(8)], "fdr"].min() > 0.05
    assert by.loc["DOWN_SET", "n_genes"] == 25
    assert set(by.loc["DOWN_SET", "leading_edge"].split(";")) <= set(sets["DOWN_SET"].genes)
    assert (table["source"] == "my_sets.gmt").all() and (table["contrast"] == "W4_vs_W0").all()


def test_enrichment_plot_is_written(planted, tmp_path):
    res, sets = planted
    ranking, _ = ranking_from_results(res)
    _, pre, _ = run_prerank(ranking, sets, contrast_id="c", permutations=50, seed=1)
    path = enrichment_plot(pre, "DOWN_SET", tmp_path / "plots" / "down.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_enrichment_plots_of_one_ranking_share_a_figure_and_draw_the_running_sum_exactly(planted, tmp_path):
    from myocit_omics.de.gsea import _running_sum_vertices

    res, sets = planted
    ranking, _ = ranking_from_results(res)
    _, pre, _ = run_prerank(ranking, sets, contrast_id="c", permutations=50, seed=1)
    terms = ["DOWN_SET", "UP_SET", "RANDOM_0"]
    paths = enrichment_plots(pre, [(t, tmp_path / f"{t}.png", f"{t} (c)") for t in terms])
    assert [p.name for p in paths] == [f"{t}.png" for t in terms]
    sizes = set()
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        sizes.add(p.read_bytes()[16:24])  # PNG width and height
    assert len(sizes) == 1  # fixed layout: every plot the same size
    assert len({p.read_bytes() for p in paths}) == len(paths)
    assert enrichment_plots(pre, []) == []
    # the running sum is linear between its corners, so the drawn line is the running sum
    for t in terms:
        full = pre.running_sum(t)
        x, y = _running_sum_vertices(full, np.asarray(pre.terms[t]["hits"]))
        np.testing.assert_allclose(np.interp(np.arange(full.size), x, y), full, rtol=0, atol=1e-12)


def test_ora_tests_up_and_down_genes_separately(planted):
    res, sets = planted
    table, _ = run_ora(res, sets, contrast_id="c", padj_cutoff=0.05)
    assert list(table.columns) == list(ORA_COLUMNS)
    best = table.sort_values("p_value").groupby("direction").first()
    assert best.loc["down", "gene_set"] == "DOWN_SET" and best.loc["up", "gene_set"] == "UP_SET"
    assert best.loc["down", "fdr"] < 0.001


def test_shipped_sets_include_the_ifn_sets_and_a_user_gmt_overrides(tmp_path):
    gmt = tmp_path / "mine.gmt"
    gmt.write_text("RICE_2013_6_ISG\tmy version\tIFI27\tISG15\tMX1\nMY_SET\t-\tA\tB\tC\n", encoding="utf-8")
    sets, notes = load_gene_sets([gmt])
    assert set(IFN_SETS) <= set(sets)
    assert sets["RICE_2013_6_ISG"].genes == ("IFI27", "ISG15", "MX1") and "MY_SET" in sets
    assert any("RICE_2013_6_ISG" in n for n in notes)
