"""flows/artifacts.py hands every artifact to Prefect with its key; one refused artifact stops nothing."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def recorder(monkeypatch):
    import flows.artifacts as fa

    calls: list[tuple[str, str, object]] = []

    def table(*, table, key, description):
        if key == "ifn-scores":
            raise ValueError("event too large")
        calls.append(("table", key, table))

    def markdown(*, markdown, key, description):
        calls.append(("markdown", key, markdown))

    def link(*, link, link_text, key, description):
        calls.append(("link", key, link))

    monkeypatch.setattr(fa, "create_table_artifact", table)
    monkeypatch.setattr(fa, "create_markdown_artifact", markdown)
    monkeypatch.setattr(fa, "create_link_artifact", link)
    return fa, calls


def test_publish_hands_each_artifact_to_prefect_and_skips_a_refused_one(run_tree, recorder):
    fa, calls = recorder
    root = run_tree()
    keys = fa.publish_artifacts(str(root), run_id="r1", top_n=5)
    assert keys == ["qc-summary", "ifn-summary", "clinical-response", "de-top-w4-vs-w0", "gsea-top-w4-vs-w0",
                    "report-link"]
    kinds = {key: kind for kind, key, _ in calls}
    assert kinds["ifn-summary"] == "markdown" and kinds["report-link"] == "link"
    de = next(content for _, key, content in calls if key == "de-top-w4-vs-w0")
    assert len(de) == 5
    json.dumps(de, allow_nan=False)
    link = next(content for _, key, content in calls if key == "report-link")
    assert link == (root / "report.html").as_uri()
