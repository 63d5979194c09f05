"""The heavy kernels on a Dask cluster: DESeq2 by gene blocks, IFN scoring by sample chunks.

Both run the very functions the single-process engines run, on the same pieces, so the results
are the same numbers:

* :class:`DaskInference` is :class:`~myocit_omics.deseq.inference.FastInference` whose batched
  IRLS, dispersion MLE and LFC shrinkage send each gene block
  (:func:`~myocit_omics.deseq.dispersion.gene_blocks`, the blocks ``FastInference(n_cpus=...)``
  uses) to the cluster as one task of :func:`~myocit_omics.deseq.glm.irls_block`,
  :func:`~myocit_omics.deseq.dispersion.alpha_mle_block` or
  :func:`~myocit_omics.deseq.glm.lfc_shrink_block`, and writes the answers into the same slices.
* :func:`score_matrix_chunked` scores chunks of samples with
  :func:`~myocit_omics.interferon.scoring.score_matrix` (every method scores a sample on its
  own against the frozen reference) and puts the rows back in the single-process order.

The frozen reference and the counts are read-only inputs of those tasks. A Dask task costs
about a quarter of a second here (docs/multi_machine.md), so this pays for blocks of seconds,
not for per-gene tasks. :func:`inference_on_dask_worker` is the hook of the DE step: when the
analysis itself runs as a task on a Dask worker (``execution.task_runner: dask``), its gene
blocks go to the same cluster.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from myocit_omics.deseq import dispersion, glm
from myocit_omics.deseq.inference import FastInference
from myocit_omics.interferon.scoring import IfnScores, score_matrix

#: Samples per IFN scoring chunk (a 20,000-gene chunk of doubles is ~80 MB at this size).
CHUNK_SAMPLES = 500


def _blas_single(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``fn`` with BLAS on one thread, as :func:`~myocit_omics.deseq.dispersion.run_blocks` does."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return fn(*args, **kwargs)


@contextlib.contextmanager
def _client(client: Any | None) -> Iterator[Any]:
    """Yield ``client``, or, inside a Dask task, a worker client (the task's slot is freed meanwhile)."""
    if client is not None:
        yield client
        return
    from distributed import worker_client

    with worker_client() as wc:
        yield wc


def on_dask_worker() -> bool:
    """Return True when called inside a task running on a Dask worker.

    A Dask worker has ``distributed`` imported; a process without it (``myocit de``, a flow on
    the default task runner) is not one, and does not pay the import (~0.1 s) to learn so.
    """
    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


class DaskInference(FastInference):
    """:class:`FastInference` whose per-gene-block fits run as tasks on a Dask cluster.

    Parameters
    ----------
    client
        A ``distributed.Client``; None inside a Dask task: a worker client of its cluster.
    n_cpus
        Sets the block size exactly as for ``FastInference(n_cpus=...)`` (same blocks, same
        numbers); None: every CPU of this machine, as ``FastInference``.
    behaviour
        Whose rules where R DESeq2 and pydeseq2 differ, as for ``FastInference``.
    """

    def __init__(self, client: Any | None = None, *, n_cpus: int | None = None,
                 behaviour: Literal["R", "pydeseq2"] = "R") -> None:
        super().__init__(n_cpus=n_cpus, behaviour=behaviour)
        self.client = client

    def _blocks(self, n_genes: int, n_samples: int, n_coefs: int) -> list[slice]:
        return dispersion.gene_blocks(n_genes, n_samples, n_coefs=n_coefs,
                                      block_elements=dispersion.BLOCK_ELEMENTS // self.n_cpus)

    def _map(self, fn: Callable[..., Any],
             calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        with _client(self.client) as client:
            futures = [client.submit(_blas_single, fn, args, kwargs, pure=False) for args, kwargs in calls]
            return client.gather(futures)

    def irls(  # noqa: D102
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float = -30,
        max_beta: float = 30,
        optimizer: str = "L-BFGS-B",
        maxiter: int = 250,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        counts = np.asarray(counts)
        sf = np.asarray(size_factors, dtype=float)
        x = np.asarray(design_matrix, dtype=float)
        disp = np.asarray(disp, dtype=float)
        n, g = counts.shape
        p = x.shape[1]
        options = {"min_mu": min_mu, "beta_tol": beta_tol, "min_beta": min_beta, "max_beta": max_beta,
                   "optimizer": optimizer, "maxiter": maxiter}
        blocks = self._blocks(g, n, p)
        parts = self._map(glm.irls_block, [((counts[:, sl], sf, x, disp[sl]), options) for sl in blocks])
        beta, mu, hat, conv = np.empty((g, p)), np.empty((n, g)), np.empty((n, g)), np.empty(g, dtype=bool)
        for sl, (b, m, h, c) in zip(blocks, parts, strict=True):
            beta[sl], mu[:, sl], hat[:, sl], conv[sl] = b, m, h, c
        return beta, mu, hat, conv

    def alpha_mle(  # noqa: D102
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None = None,
        cr_reg: bool = True,
        prior_reg: bool = False,
        optimizer: str = "L-BFGS-B",
    ) -> tuple[np.ndarray, np.ndarray]:
        counts = np.asarray(counts)
        mu = np.asarray(mu, dtype=float)
        x = np.asarray(design_matrix, dtype=float)
        alpha_hat = np.asarray(alpha_hat, dtype=float)
        n, g = counts.shape
        options = {"design": x, "min_disp": min_disp, "max_disp": max_disp, "prior_disp_var": prior_disp_var,
                   "cr_reg": cr_reg, "prior_reg": prior_reg}
        blocks = self._blocks(g, n, x.shape[1])
        parts = self._map(dispersion.alpha_mle_block,
                          [((counts[:, sl], mu[:, sl], alpha_hat[sl]), options) for sl in blocks])
        alpha, conv = np.empty(g), np.empty(g, dtype=bool)
        for sl, (a, c) in zip(blocks, parts, strict=True):
            alpha[sl], conv[sl] = a, c
        if (~conv).any():  # the genes off the fast path: pydeseq2's own routine, as FastInference does
            from pydeseq2.utils import fit_alpha_mle

            for j in np.flatnonzero(~conv):
                alpha[j], conv[j] = fit_alpha_mle(
                    counts=counts[:, j].astype(float), design_matrix=x, mu=mu[:, j],
                    alpha_hat=float(alpha_hat[j]), min_disp=min_disp, max_disp=max_disp,
                    prior_disp_var=prior_disp_var, cr_reg=cr_reg, prior_reg=prior_reg, optimizer=optimizer,
                )
        return alpha, conv

    def lfc_shrink_nbinom_glm(  # noqa: D102
        self,
        design_matrix: np.ndarray,
        counts: np.ndarray,
        size: np.ndarray,
        offset: np.ndarray,
        prior_no_shrink_scale: float,
        prior_scale: float,
        optimizer: str,
        shrink_index: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(design_matrix, dtype=float)
        counts = np.asarray(counts)
        size = np.asarray(size, dtype=float)
        offset = np.asarray(offset, dtype=float)
        n, g = counts.shape
        p = x.shape[1]
        options = {"prior_no_shrink_scale": prior_no_shrink_scale, "prior_scale": float(prior_scale),
                   "shrink_index": shrink_index}
        blocks = self._blocks(g, n, p)
        parts = self._map(glm.lfc_shrink_block,
                          [((x, counts[:, sl], size[sl], offset), options) for sl in blocks])
        beta, inv_h, conv = np.empty((g, p)), np.empty((g, p, p)), np.empty(g, dtype=bool)
        for sl, (b, ih, c) in zip(blocks, parts, strict=True):
            beta[sl], inv_h[sl], conv[sl] = b, ih, c
        return beta, inv_h, conv


def inference_on_dask_worker(*, n_cpus: int | None = None,
                             behaviour: Literal["R", "pydeseq2"] = "R") -> DaskInference | None:
    """Return a :class:`DaskInference` on this task's cluster when running on a Dask worker, else None.

    The hook of the DE step (``myocit_omics.de.fit.make_inference``): a flow run on the Dask
    task runner fits its gene blocks on the same cluster; anywhere else nothing changes.
    """
    return DaskInference(n_cpus=n_cpus, behaviour=behaviour) if on_dask_worker() else None


def _score_chunk(log: pd.DataFrame, reference: Any, kwargs: dict[str, Any]) -> IfnScores:
    return score_matrix(log, reference=reference, **kwargs)


def score_matrix_chunked(log: pd.DataFrame, *, client: Any | None = None, chunk_samples: int = CHUNK_SAMPLES,
                         **kwargs: Any) -> IfnScores:
    """:func:`~myocit_omics.interferon.scoring.score_matrix` by chunks of samples on a Dask cluster.

    Parameters
    ----------
    log
        Samples x genes, as for ``score_matrix``.
    client
        A ``distributed.Client``; None inside a Dask task: a worker client of its cluster.
    chunk_samples
        Samples per task.
    **kwargs
        The other arguments of ``score_matrix`` (``reference``, ``gene_sets``, ``methods``, ...).

    Returns
    -------
    IfnScores
        The same tables as ``score_matrix(log, **kwargs)``, rows in the same order.
    """
    if chunk_samples < 1:
        msg = f"chunk_samples is {chunk_samples}: expected at least 1"
        raise ValueError(msg)
    kwargs = dict(kwargs)
    reference = kwargs.pop("reference")
    chunks = [log.iloc[s:s + chunk_samples] for s in range(0, len(log), chunk_samples)] or [log]
    with _client(client) as cl:
        ref = cl.scatter(reference, broadcast=True)
        futures = [cl.submit(_score_chunk, chunk, ref, kwargs, pure=False) for chunk in chunks]
        parts: list[IfnScores] = cl.gather(futures)
    first = parts[0]
    frames = []
    for chunk, part in zip(chunks, parts, strict=True):
        # each chunk lists its samples block by block (method, then set); the block number orders them
        frames.append(part.scores.assign(_block=np.arange(len(part.scores)) // max(1, len(chunk))))
    scores = (pd.concat(frames, ignore_index=True).sort_values("_block", kind="stable")
              .drop(columns="_block").reset_index(drop=True))
    return IfnScores(scores=scores, coverage=first.coverage, thresholds=first.thresholds,
                     reference=first.reference)


__all__ = ["CHUNK_SAMPLES", "DaskInference", "inference_on_dask_worker", "on_dask_worker",
           "score_matrix_chunked"]
