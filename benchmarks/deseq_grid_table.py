"""Print the project's columns of the DESeq2 agreement grid table (``docs/deseq_agreement.md``).

For every case and contrast of ``tests/golden/deseq2_grid``: residual df, padj < 0.05 calls of R
and of the project (default R rules), Jaccard of the call sets, max |d log2FC| for base mean >= 10
and the log2FC Pearson correlation against R. Real-data cases need ``../shared``.

Usage (from the repository root)::

    PYTHONPATH=src:. .venv/bin/python benchmarks/deseq_grid_table.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _grid():
    spec = importlib.util.spec_from_file_location("deseq_grid", ROOT / "tests" / "deseq" / "deseq_grid.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["deseq_grid"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Fit every grid case and print one markdown row per contrast."""
    from myocit_omics.deseq import fit_deseq

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    args = ap.parse_args(argv)
    grid = _grid()
    print("| case | df | contrast | calls R | calls project | Jaccard project vs R | max dLFC project vs R "
          "| LFC Pearson |")
    print("|---|---|---|---|---|---|---|---|")
    for case in grid.CASES.index:
        c = grid.load_case(case, args.shared.resolve())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dds = fit_deseq(c.counts, c.samples, c.design)
            for spec in grid.CASES.loc[case, "contrasts"].split(";"):
                cid = spec.split("=")[0]
                ours = grid.results_of(dds, c.contrasts[cid])
                m = grid.compare(ours, c.r_results[cid], c.r_genes["base_mean"])
                print(f"| {case} | {c.df} | {cid} | {m['ref_calls']} | {m['calls']} | {m['jaccard']:.3f} "
                      f"| {m['max_dlfc']:.4f} | {m['lfc_pearson']:.5f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
