"""The HTML report: self-contained, every section, 'not run' with reasons, failures lose nothing."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from myocit_omics.errors import InputError
from myocit_omics.report import ReportError, render_report
from myocit_omics.report import render as render_module
from myocit_omics.report.sections import SECTION_TITLES, plot_section

EVERY_SECTION = ("summary", "qc", "ifn", "cytokines", "de", "clinical", "linking", "methods")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.imgs: list[str] = []
        self.sections: dict[str, str] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            if a.get(name):
                self.urls.append((tag, name, a[name] or ""))
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "section":
            self.sections[a.get("id") or ""] = a.get("data-status") or ""


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_report_is_self_contained_and_shows_every_section(run_tree):
    root = run_tree()
    path = render_report(root)
    assert path == root / "report.html"
    html = _parse(path)
    # no external resource of any kind: only in-page anchors and data: URIs
    for tag, attr, url in html.urls:
        assert url.startswith(("#", "data:")), f"<{tag} {attr}={url[:60]!r}> points outside the file"
    assert "script" not in html.tags and "link" not in html.tags
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text.split("<main>")[0] and "https://" not in text.split("<main>")[0]
    for sid in EVERY_SECTION:
        assert html.sections.get(sid) == "ok", (sid, html.sections)
    # three plot files of the tree + three IFN figures drawn from the table (every gene set by visit,
    # per-patient trajectories, the primary set by method since the fixture has two methods) + the GSEA
    # dot plot drawn from tables/gsea/
    assert len(html.imgs) == 7
    for src in html.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # the unassigned plot is shown in its own section
    assert html.sections.get("other") == "ok"


def test_report_content_comes_from_the_tables(run_tree):
    root = run_tree()
    text = render_report(root).read_text(encoding="utf-8")
    assert "MYOCIT-test" in text                      # study from the manifest
    assert "PCA outlier" in text                      # the failed sample and its reason
    assert "bridge CV &gt; 25%" in text               # flagged plate fit, escaped
    assert "Contrast W4_vs_W0" in text
    assert "pooled:W0" in text                        # reference of the IFN scores
    assert "ifn_signatures_published.gmt" in text     # gene-set provenance from the manifest
    assert "rnaseq-seq1" in text                      # input batch
    assert "pydeseq2" in text                         # software versions


def test_key_results_are_computed_from_the_tables(run_tree):
    import pandas as pd

    from myocit_omics.report.sections import key_results
    from myocit_omics.report.tree import open_run

    root = run_tree()
    results = dict(key_results(open_run(root)))
    qc = pd.read_csv(root / "tables" / "qc_samples.tsv", sep="\t")
    assert results["RNA-seq QC"] == f"{int(qc.qc_pass.sum())} of {len(qc)} samples passed"
    de = pd.read_csv(root / "tables" / "de" / "W4_vs_W0.tsv", sep="\t")
    assert results["DE W4_vs_W0"].startswith(f"{int((de.padj < 0.05).sum())} of {len(de)} genes")
    w24 = pd.read_csv(root / "tables" / "response_w24.tsv", sep="\t")
    n_major = int((w24.response_w24 == "major").sum())
    assert (f"{n_major} major" in results["Response at W24 (TIS)"]) or n_major == 0
    assert results["linking ifn clinical"] == "1 of 2 tests with q < 0.05"
    assert results["IFN score"].startswith("RICE_2013_6_ISG (median_zscore) median by visit: W0 ")


def test_missing_steps_say_not_run_with_the_manifest_reason(run_tree):
    root = run_tree(parts=("qc", "ifn", "manifest"),
                    skipped={"cytokines": "no cytokine batch has been accepted",
                             "de": "needs expression, which did not complete"})
    html_path = render_report(root)
    html = _parse(html_path)
    text = html_path.read_text(encoding="utf-8")
    assert html.sections["qc"] == "ok" and html.sections["ifn"] == "ok"
    for sid in ("cytokines", "de", "clinical", "linking"):
        assert html.sections[sid] == "not run", sid
    assert "Not run: step skipped: no cytokine batch has been accepted" in text
    assert "Not run: step skipped: needs expression, which did not complete" in text
    # clinical step recorded ok but no table: says so instead of crashing
    assert "the step finished but wrote no clinical tables" in text
    assert "other" not in html.sections


def test_report_without_manifest_still_renders(run_tree):
    root = run_tree(parts=("qc",))
    text = render_report(root).read_text(encoding="utf-8")
    assert "run_manifest.json is missing" in text
    html = _parse(root / "report.html")
    assert set(EVERY_SECTION) <= set(html.sections)


def test_a_broken_table_costs_only_its_section(run_tree):
    root = run_tree()
    (root / "tables" / "ifn_scores.tsv").write_text("sample_id\tvisit\nS1\tW0\n", encoding="utf-8")
    html_path = render_report(root)
    html = _parse(html_path)
    assert html.sections["ifn"] == "error"
    assert "could not be drawn" in html_path.read_text(encoding="utf-8")
    assert all(html.sections[s] == "ok" for s in ("summary", "qc", "de", "clinical", "linking"))


def test_report_failure_leaves_every_result_untouched(run_tree, monkeypatch):
    import anndata as ad

    root = run_tree()
    render_report(root)                                       # an earlier, good report
    before = _digest(root)

    def broken(run):
        raise RuntimeError("renderer forced to fail")

    monkeypatch.setattr(render_module, "render_html", broken)
    with pytest.raises(ReportError, match="renderer forced to fail"):
        render_report(root)
    assert _digest(root) == before                            # tables, h5ad, plots, old report: same bytes
    assert not list(root.glob(".report.html.*"))              # no temporary file left behind
    assert ad.read_h5ad(root / "anndata" / "expression.h5ad").shape == (4, 5)


def test_failure_while_writing_leaves_no_half_report(run_tree, monkeypatch):
    root = run_tree(parts=("qc", "manifest"))
    real_open = render_module.atomic_open

    class Boom(Exception):
        pass

    def failing_open(path, mode="w", **kw):
        cm = real_open(path, mode, **kw)

        class HalfWriter:
            def __init__(self, fh):
                self.fh = fh

            def write(self, text):
                self.fh.write(text[: len(text) // 2])
                self.fh.flush()
                raise Boom("disk full")

        class Wrapper:
            def __enter__(self):
                return HalfWriter(cm.__enter__())

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrapper()

    monkeypatch.setattr(render_module, "atomic_open", failing_open)
    with pytest.raises(ReportError, match="disk full"):
        render_report(root)
    assert not (root / "report.html").exists()
    assert not list(root.glob(".report.html.*"))


def test_not_a_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a results folder"):
        render_report(tmp_path)
    with pytest.raises(InputError, match="results folder not found"):
        render_report(tmp_path / "nope")


@pytest.mark.parametrize(("rel", "section"), [
    ("qc/library_size.png", "qc"),
    ("pca_samples.png", "qc"),
    ("de/W4_vs_W0_volcano.png", "de"),
    ("gsea/W4_vs_W0_RICE.png", "de"),
    ("ifn_scores_by_visit.png", "ifn"),
    ("cytokines/standard_curves_P1.png", "cytokines"),
    ("tis_waterfall.png", "clinical"),
    ("linking/ifn_vs_cmas.png", "linking"),
    ("linking_roc_cytokine.png", "linking"),
    ("cmas_trajectories.png", "clinical"),
    ("something_else.png", "other"),
])
def test_plots_go_to_the_section_their_path_names(rel, section):
    assert plot_section(rel) == section
    assert section == "other" or section in SECTION_TITLES


def test_de_section_folds_enrichment_plots_and_hides_all_na_columns(run_tree):
    import pandas as pd
    from matplotlib.figure import Figure

    from myocit_omics.report.sections import de_section, plots_by_section
    from myocit_omics.report.tree import open_run
    from myocit_omics.results import save_figure, write_tsv

    root = run_tree()
    de_path = root / "tables" / "de" / "W4_vs_W0.tsv"
    de = pd.read_csv(de_path, sep="\t").assign(log2_fc_shrunk=float("nan"))
    write_tsv(de, de_path)
    for name in ("W4_vs_W0_rice6", "W4_vs_W0_set_3"):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [1, 0])
        save_figure(fig, root / "plots" / "gsea" / f"{name}.png")
    run = open_run(root)
    sec = de_section(run, plots_by_section(run))
    sec.resolve()  # the figures handed to drawing.later, as build_sections collects them
    kinds = [kind for kind, _ in sec.blocks]
    tables = [item for kind, item in sec.blocks if kind == "table"]
    top_genes = next(t for t in tables if t.title.startswith("Top genes"))
    assert "log2_fc_shrunk" not in top_genes.columns and "log2_fc" in top_genes.columns
    folded = [item for kind, item in sec.blocks if kind == "details"]
    assert len(folded) == 1 and {f.source for f in folded[0][1]} == {
        "plots/gsea/W4_vs_W0_rice6.png", "plots/gsea/W4_vs_W0_set_3.png"}
    # the GSEA dot plot comes first, the volcano plot is not folded
    figures = [item for kind, item in sec.blocks if kind == "figure"]
    assert figures[0].source == "tables/gsea/" and any("volcano" in f.source for f in figures)
    assert kinds.index("details") > kinds.index("figure")
    html = render_report(root).read_text(encoding="utf-8")
    assert html.count("<details>") == 1 and "Enrichment plots of W4_vs_W0 (2:" in html
