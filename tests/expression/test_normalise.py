"""Normalisation: gene filter rule, median-of-ratios against frozen means, log-CPM, frozen reference files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydeseq2.preprocessing import deseq2_norm_fit, deseq2_norm_transform

from myocit_omics.errors import InputError
from myocit_omics.expression.normalise import (
    ExpressionReference,
    GeneFilterRule,
    find_references,
    log_cpm,
    log_geometric_means,
    size_factors,
)


def test_gene_filter_rule_by_hand():
    counts = np.array([[0, 100, 5, 0], [0, 100, 0, 0], [10, 100, 0, 0], [0, 100, 0, 1]], dtype=float)
    # CPM: gene 0 passes in one sample only; gene 2 in one sample; gene 1 in all; gene 3 in one
    rule = GeneFilterRule(min_cpm=1.0, min_share=0.5)
    assert rule.min_samples(4) == 2
    assert rule.apply(counts).tolist() == [False, True, False, False]
    assert rule.min_samples(2) == 2  # never fewer than 2 samples
    with pytest.raises(InputError):
        GeneFilterRule.from_config({"min_share": 0})
    with pytest.raises(InputError):
        GeneFilterRule.from_config({"min_count": 3})


def test_size_factors_match_pydeseq2_with_the_same_frozen_means():
    rng = np.random.default_rng(1)
    ref = rng.poisson(rng.uniform(20, 500, size=300), size=(6, 300)) + 1
    new = rng.poisson(rng.uniform(20, 500, size=300), size=(4, 300)) + 1  # no zeros: DESeq2 == pydeseq2
    logmeans, keep = deseq2_norm_fit(ref)
    _, expected = deseq2_norm_transform(new, logmeans, keep)
    np.testing.assert_allclose(size_factors(new, log_geometric_means(ref)), expected, rtol=1e-12)


def test_size_factor_depends_on_the_sample_only():
    rng = np.random.default_rng(2)
    ref = rng.poisson(100, size=(5, 200))
    lg = log_geometric_means(ref)
    sample = rng.poisson(100, size=(1, 200))
    others = rng.poisson(300, size=(7, 200))
    alone = size_factors(sample, lg)[0]
    together = size_factors(np.vstack([others, sample]), lg)[-1]
    assert alone == together
    # scaling a sample's counts scales its size factor (zeros ignored, as DESeq2 does)
    assert size_factors(sample * 3, lg)[0] == pytest.approx(3 * alone, rel=1e-12)


def test_size_factor_of_an_empty_sample_is_refused():
    ref = np.full((3, 4), 10)
    with pytest.raises(InputError) as err:
        size_factors(np.zeros((1, 4)), log_geometric_means(ref), sample_ids=["S9"])
    assert "S9" in str(err.value)


def test_log_cpm_by_hand():
    out = log_cpm(np.array([[1.5, 0.5, 7.0]]))  # library 9
    assert out[0, 0] == pytest.approx(np.log2(2.0 / 10.0 * 1e6))


def _ref(version: int = 1) -> ExpressionReference:
    return ExpressionReference(
        version=version,
        reference="pooled:W0",
        sample_ids=["a", "b", "c"],
        gene_ids=["g1", "g2"],
        gene_names=["A", "B"],
        counts=np.array([[1, 2], [3, 4], [5, 6]]),
        gene_filter={"min_cpm": 1.0},
        ssgsea_span=12.5,
    )


def test_reference_round_trip_and_immutability(tmp_path):
    ref = _ref()
    path = ref.save(tmp_path)
    back = ExpressionReference.load(path)
    assert back.checksum == ref.checksum and len(ref.checksum) == 64
    assert back.gene_ids == ["g1", "g2"] and back.sample_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(back.counts, ref.counts)
    assert back.ssgsea_span == 12.5
    assert find_references(tmp_path) == {1: path}
    with pytest.raises(InputError):
        _ref().save(tmp_path)  # never overwritten


def test_tampered_reference_is_refused(tmp_path):
    path = _ref().save(tmp_path)
    npz = tmp_path / json.loads(path.read_text())["arrays"]
    assert not npz.stat().st_mode & 0o222  # written read-only
    npz.chmod(0o644)
    npz.write_bytes(npz.read_bytes() + b"x")
    with pytest.raises(InputError) as err:
        ExpressionReference.load(path)
    assert "checksum" in str(err.value)
