"""DESeq2 gene blocks and IFN sample chunks as Dask tasks on a 2-worker LocalCluster: the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as c:
        yield c


def _nb_counts(n_patients: int, n_genes: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired NB counts (samples x genes), visit effects on a tenth of the genes, a few all-zero genes."""
    rng = np.random.default_rng(seed)
    visits = ("W0", "W4", "W24")
    n = n_patients * len(visits)
    base = np.exp(rng.normal(4.0, 2.0, n_genes))
    disp = 0.05 + 1.5 / base
    eff = np.where(rng.random(n_genes) < 0.1, rng.normal(0, 1.2, n_genes), 0.0)
    meta = pd.DataFrame({"patient": np.repeat([f"P{i:02d}" for i in range(n_patients)], len(visits)),
                         "visit": list(visits) * n_patients}, index=[f"S{k:03d}" for k in range(n)])
    mu = (np.exp(rng.normal(0, 0.3, n))[:, None] * base[None, :]
          * np.exp(np.outer(meta["visit"].map({"W0": 0, "W4": 1, "W24": 1}).to_numpy(), eff))
          * np.exp(rng.normal(0, 0.4, (n_patients, n_genes))).repeat(len(visits), axis=0))
    counts = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    counts[:, :5] = 0
    return pd.DataFrame(counts, index=meta.index, columns=[f"G{j:05d}" for j in range(n_genes)]), meta


def _fit(counts, meta, inference):
    from pydeseq2.ds import DeseqStats

    from myocit_omics.deseq import fit_deseq

    dds = fit_deseq(counts, meta, "~ patient + visit", inference=inference)
    st = DeseqStats(dds, contrast=["visit", "W4", "W0"], quiet=True, inference=dds.inference)
    st.summary()
    wald = st.results_df.copy()
    st.lfc_shrink(coeff="visit[T.W4]")
    return dds, wald, st.results_df.copy()


def test_deseq2_gene_blocks_on_dask_give_the_same_numbers(client):
    from threadpoolctl import threadpool_limits

    from myocit_omics.dask_kernels import DaskInference
    from myocit_omics.deseq import FastInference
    from myocit_omics.deseq.dispersion import BLOCK_ELEMENTS, gene_blocks

    counts, meta = _nb_counts(6, 3000, seed=16)
    n_cpus = 64                                    # small blocks: several tasks on the cluster
    blocks = gene_blocks(counts.shape[1], counts.shape[0], n_coefs=8, block_elements=BLOCK_ELEMENTS // n_cpus)
    assert len(blocks) >= 3
    with threadpool_limits(limits=1, user_api="blas"):
        dds_a, wald_a, shrunk_a = _fit(counts, meta, FastInference(n_cpus=n_cpus))
    dds_b, wald_b, shrunk_b = _fit(counts, meta, DaskInference(client, n_cpus=n_cpus))
    for key in ("dispersions", "genewise_dispersions", "MAP_dispersions", "LFC", "_normed_means"):
        if key in dds_a.varm or key in dds_a.var:
            a = np.asarray(dds_a.varm[key] if key in dds_a.varm else dds_a.var[key], dtype=float)
            b = np.asarray(dds_b.varm[key] if key in dds_b.varm else dds_b.var[key], dtype=float)
            assert np.array_equal(a, b, equal_nan=True), key
    pd.testing.assert_frame_equal(wald_a, wald_b, check_exact=True)
    pd.testing.assert_frame_equal(shrunk_a, shrunk_b, check_exact=True)
    assert wald_a["padj"].notna().sum() > 1000
    # and the fits really ran on the cluster, as tasks of both workers
    ran = client.run(lambda dask_worker: sum(1 for e in dask_worker.state.log if "_blas_single" in str(e)))
    assert len(ran) == 2 and all(v > 0 for v in ran.values()), ran


def test_ifn_scores_by_sample_chunks_on_dask_give_the_same_tables(client):
    from myocit_omics.dask_kernels import score_matrix_chunked
    from myocit_omics.genesets import ifn_gene_sets
    from myocit_omics.interferon.methods import METHODS
    from myocit_omics.interferon.reference import ScoreReference
    from myocit_omics.interferon.scoring import score_matrix

    rng = np.random.default_rng(7)
    sets = ifn_gene_sets()
    ifn_genes = sorted({g for s in sets.values() for g in s.genes})
    genes = ifn_genes + [f"G{i:05d}" for i in range(2500)]
    n = 230
    act = np.r_[np.zeros(40), rng.uniform(0, 3, n - 40)]
    log = rng.normal(6, 1.5, (1, len(genes))) + rng.normal(0, 0.4, (n, len(genes)))
    log[:, : len(ifn_genes)] += act[:, None]
    log = np.clip(log, 0, None)
    frame = pd.DataFrame(log, index=[f"S{i:04d}" for i in range(n)], columns=genes)
    ref = ScoreReference(label="pooled:W0", sample_ids=list(frame.index[:40]), genes=genes, log=log[:40])
    kwargs = {"gene_sets": sets, "methods": list(METHODS), "random_state": 3}
    one = score_matrix(frame, reference=ref, **kwargs)
    chunked = score_matrix_chunked(frame, client=client, chunk_samples=60, reference=ref, **kwargs)
    assert len(one.scores) == n * len(METHODS) * (len(sets) - len(one.refused))
    pd.testing.assert_frame_equal(one.scores, chunked.scores, check_exact=True)
    pd.testing.assert_frame_equal(one.coverage, chunked.coverage, check_exact=True)
    pd.testing.assert_frame_equal(one.thresholds, chunked.thresholds, check_exact=True)
    # the active samples score higher: the comparison is not between two empty tables
    mz = one.scores[(one.scores.method == "mean_z")].groupby("sample_id").score.mean()
    assert mz.iloc[40:].mean() > mz.iloc[:40].mean() + 1


def test_bad_chunk_size_is_refused(client):
    from myocit_omics.dask_kernels import score_matrix_chunked

    with pytest.raises(ValueError, match="chunk_samples"):
        score_matrix_chunked(pd.DataFrame(), client=client, chunk_samples=0, reference=None)


def test_outside_a_dask_worker_the_de_step_keeps_its_engine():
    from myocit_omics.dask_kernels import inference_on_dask_worker, on_dask_worker

    assert not on_dask_worker()
    assert inference_on_dask_worker(n_cpus=1) is None
