"""Render ``report.html``: one self-contained file made from a finished results tree.

Figures are embedded as base64 PNG (or SVG) ``data:`` URIs and the CSS is inline, so
the report opens with no network and can be mailed as one file. The report is
written to a temporary file and renamed into place: a failure leaves the results
(and any earlier report) untouched.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from myocit_omics import __version__
from myocit_omics.errors import MyocitError
from myocit_omics.report.sections import SECTION_TITLES, SECTIONS, Section, plots_by_section
from myocit_omics.report.tree import RunTree, open_run
from myocit_omics.results import atomic_open

log = logging.getLogger(__name__)


class ReportError(MyocitError, RuntimeError):
    """The report could not be rendered; the results tree is untouched."""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("myocit_omics.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_sections(run: RunTree) -> list[Section]:
    """Build every section of the report of ``run``.

    A section that raises is replaced by one saying it could not be drawn and why,
    so one corrupt table never costs the whole report.

    Parameters
    ----------
    run
        The opened results folder.

    Returns
    -------
    list of Section
        In report order.
    """
    plots = plots_by_section(run)
    built: list[tuple[str, Section | Exception | None]] = []
    for section_id, builder in SECTIONS:
        try:
            built.append((section_id, builder(run, plots)))
        except Exception as exc:  # a section that cannot be drawn must not cost the others
            built.append((section_id, exc))
    out: list[Section] = []
    for section_id, section in built:  # the figures drawn meanwhile (myocit_omics.drawing) are collected now
        if isinstance(section, Section):
            try:
                section.resolve()
            except Exception as exc:
                section = exc
        if isinstance(section, Exception):
            log.warning("report section %s could not be drawn: %s", section_id, section)
            section = Section(section_id, SECTION_TITLES[section_id], status="error",
                              reason=f"{type(section).__name__}: {section}")
        if section is not None:
            out.append(section)
    return out


def render_html(run: RunTree) -> str:
    """Return the report of ``run`` as one HTML string.

    Parameters
    ----------
    run
        The opened results folder.

    Returns
    -------
    str
        The self-contained HTML document.
    """
    env = _environment()
    template = env.get_template("report.html.j2")
    css = env.loader.get_source(env, "report.css")[0]  # type: ignore[union-attr]
    return template.render(
        run_id=run.run_id,
        study=run.manifest.get("study") or "MYOCIT",
        sections=build_sections(run),
        css=css,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def render_report(run_dir: str | Path) -> Path:
    """Render ``<run_dir>/report.html`` from the results tree, without recomputing anything.

    Parameters
    ----------
    run_dir
        ``results/<run-id>``.

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    InputError
        If ``run_dir`` is not a results folder.
    ReportError
        If rendering fails; nothing in the results folder is changed (an earlier
        ``report.html`` stays as it was).
    """
    run = open_run(run_dir)
    target = run.root / "report.html"
    try:
        html = render_html(run)
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write(html)
    except MyocitError:
        raise
    except Exception as exc:
        msg = (f"could not render the report of {run.root}: {type(exc).__name__}: {exc}; "
               "the results are untouched")
        raise ReportError(msg) from exc
    log.debug("report written: %s (%d kB)", target, target.stat().st_size // 1024)
    return target
