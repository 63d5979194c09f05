"""The self-contained HTML report of a run, made from its results tree.

``render_report(run_dir)`` reads ``results/<run-id>/`` (tables, plots, run manifest)
and writes ``report.html`` with every figure embedded; ``myocit report RUN_DIR``
calls it. :mod:`myocit_omics.report.summaries` holds the small summary tables the
dashboard artifacts share with the report.
"""

from myocit_omics.report.render import ReportError, render_report

__all__ = ["ReportError", "render_report"]
