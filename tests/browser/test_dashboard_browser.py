"""End to end in headless chromium: the dashboard shows the trial-analysis run and its IFN-score
artifact; the report it links to opens with no network, shows every section and its figures render."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.flow]

SECTIONS = ("summary", "qc", "ifn", "cytokines", "de", "clinical", "linking", "methods")


def _latest(dashboard, key: str) -> dict:
    import myocit_dashboard_support as support

    rows = support.api(dashboard.base, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": [key]}}})
    assert rows, f"no artifact {key!r} on the server"
    return rows[0]


def test_dashboard_shows_the_run_and_its_ifn_scores_artifact(chromium, dashboard, shots):
    run_name = dashboard.flow_run["name"]
    assert run_name == "trial-analysis/e2e"
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})

    def local_only(route):   # the dashboard must work with nothing but the local server
        if route.request.url.startswith((dashboard.base, "data:", "blob:")):
            return route.continue_()
        return route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    try:
        page.goto(f"{dashboard.base}/runs", wait_until="domcontentloaded")
        link = page.get_by_role("link", name=run_name).first
        link.wait_for(state="visible", timeout=60_000)
        page.screenshot(path=str(shots / "01-runs.png"))
        link.click()
        page.wait_for_url(re.compile(r".*/runs/flow-run/.*"), timeout=30_000)
        page.get_by_text(run_name).first.wait_for(timeout=30_000)
        page.get_by_text("Artifacts", exact=True).first.click()
        artifact = page.get_by_text("ifn-scores", exact=True).first
        artifact.wait_for(state="visible", timeout=30_000)
        page.screenshot(path=str(shots / "02-flow-run-artifacts.png"))
        artifact.click()
        page.get_by_text("IFN scores by gene set, method and visit").first.wait_for(timeout=30_000)
        # the table shows the rows the API holds: the first gene set of the table is on the page
        rows = json.loads(_latest(dashboard, "ifn-scores")["data"])
        assert rows, (dashboard.run_dir / "tables" / "ifn_scores.tsv").read_text()[:500]
        first = rows[0]
        page.get_by_text(first["gene_set"]).first.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "03-ifn-scores-artifact.png"), full_page=True)
    finally:
        context.close()


def test_the_report_opens_offline_with_every_section_and_its_figures(chromium, dashboard, shots):
    link = _latest(dashboard, "report-link")["data"]
    url = re.search(r"\((file://[^)]+)\)", link).group(1)
    context = chromium.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    requests: list[str] = []

    def file_only(route):
        requests.append(route.request.url)
        if route.request.url.startswith(("file:", "data:")):
            return route.continue_()
        return route.abort()

    context.route("**/*", file_only)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        for sid in SECTIONS:
            section = page.locator(f"section#{sid}")
            assert section.is_visible(), sid
            assert section.get_attribute("data-status") == "ok", (sid, section.inner_text()[:300])
        # folded figures (closed <details>) and lazy ones below the fold load when shown: show them all
        images = page.evaluate("""async () => {
            document.querySelectorAll('details').forEach(d => { d.open = true; });
            const imgs = Array.from(document.images);
            imgs.forEach(i => { i.loading = 'eager'; });
            await Promise.all(imgs.map(i => i.decode().catch(() => null)));
            return imgs.map(i => [i.complete, i.naturalWidth, i.alt]);
        }""")
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = false; })")
        page.screenshot(path=str(shots / "04-report-top.png"))
        page.locator("section#ifn").screenshot(path=str(shots / "05-report-ifn-section.png"))
    finally:
        context.close()
    assert len(images) >= 4, images
    broken = [alt for complete, width, alt in images if not complete or width == 0]
    assert not broken, f"figures that did not render: {broken}"
    assert all(r.startswith(("file:", "data:")) for r in requests), requests
    # the report-made IFN figures are there (distribution by visit and per-patient trajectories)
    alts = " ".join(alt for _, _, alt in images)
    assert "IFN scores by visit" in alts and "trajectories" in alts
