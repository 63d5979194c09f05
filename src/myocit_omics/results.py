"""The results tree of one run and atomic file writes.

A run writes into ``results/<run-id>.partial/`` and renames it to ``results/<run-id>/``
(atomically, within one folder) once its manifest is final; a folder is never replaced
(:func:`claim_run_folder`, :func:`complete_run_folder`, :func:`run_state`).

Layout (DESIGN.md)::

    results/<run-id>/tables/<name>.tsv
                     plots/<name>.png
                     anndata/<name>.h5ad
                     report.html
                     run_manifest.json
                     steps/<step>.json     (one record per step, merged into the manifest)

Every write goes to a temporary file in the same folder, is flushed and fsynced,
then renamed into place, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    Parameters
    ----------
    path
        Final destination. Its folder is created if needed.

    Yields
    ------
    Path
        A temporary file path in the same folder. On an exception it is removed
        and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        if stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o600:  # mkstemp's mode, not one the writer chose
            os.chmod(tmp_path, 0o666 & ~_umask())  # results are for the whole team
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a file for writing atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_tsv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    r"""Write a DataFrame as a tab-separated file, atomically; return the path.

    The bytes are those of ``df.to_csv(sep="\t", na_rep="NA")``; plain tables are formatted by
    :func:`myocit_omics.tsv.tsv_text`, a few times faster.
    """
    from myocit_omics.tsv import tsv_text

    path = Path(path)
    text = None if index else tsv_text(df, na_rep="NA")
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        if text is not None:
            fh.write(text)
        else:
            df.to_csv(fh, sep="\t", index=index, na_rep="NA", lineterminator="\n")
    return path


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (sorted keys, indented), atomically; return the path."""
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    return path


_SUBPLOT_PARAMS = ("left", "right", "bottom", "top", "wspace", "hspace")


def _laid_out(fig: Any) -> bool:
    """Return True when the figure has a layout engine or its subplot parameters were set."""
    import matplotlib as mpl

    if fig.get_layout_engine() is not None:
        return True
    pars = fig.subplotpars
    return any(getattr(pars, k) != mpl.rcParams[f"figure.subplot.{k}"] for k in _SUBPLOT_PARAMS)


def draw_once(fig: Any) -> None:
    """Prepare a figure to be saved with one draw, at its own size.

    A figure its maker did not lay out (no layout engine, ``tight_layout()`` or
    ``subplots_adjust()``) gets ``tight_layout()`` now. The inert engine that ``tight_layout()``
    leaves behind is dropped: with any engine set, ``savefig`` draws the whole figure once more
    before the real draw (as ``bbox_inches="tight"`` does, to measure it), which was most of the
    plotting time.
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    if not _laid_out(fig):
        fig.tight_layout()
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine(None)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110, close: bool = True) -> Path:
    """Save a matplotlib figure atomically and (unless ``close=False``) close it; return the path.

    The figure is drawn once, at its own size (:func:`draw_once`). ``close=False`` keeps a figure
    that is redrawn and saved again (the enrichment plots reuse one figure for every set).
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    draw_once(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    if close:
        plt.close(fig)
    return path


def write_h5ad(adata: Any, path: str | Path) -> Path:
    """Write an AnnData object atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return path


@dataclass(frozen=True)
class ResultsTree:
    """Paths of one run's results folder.

    Parameters
    ----------
    root
        ``results/<run-id>``.
    """

    root: Path

    def __post_init__(self) -> None:
        for sub in ("tables", "plots", "anndata"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def run_id(self) -> str:
        """The run id (the folder's name, without ``.partial`` while the run is being written)."""
        name = self.root.name
        return name[: -len(PARTIAL_SUFFIX)] if name.endswith(PARTIAL_SUFFIX) else name

    def table(self, name: str) -> Path:
        """Path of ``tables/<name>.tsv`` (``name`` may contain a sub-folder)."""
        return self.root / "tables" / f"{name}.tsv"

    def plot(self, name: str, ext: str = "png") -> Path:
        """Path of ``plots/<name>.<ext>``."""
        return self.root / "plots" / f"{name}.{ext}"

    def anndata(self, name: str) -> Path:
        """Path of ``anndata/<name>.h5ad``."""
        return self.root / "anndata" / f"{name}.h5ad"

    @property
    def manifest(self) -> Path:
        """Path of ``run_manifest.json``."""
        return self.root / "run_manifest.json"

    @property
    def report(self) -> Path:
        """Path of ``report.html``."""
        return self.root / "report.html"


# --------------------------------------------------------------------------- run folders

#: Suffix of a run folder being written; removed (by an atomic rename) when its manifest is final.
PARTIAL_SUFFIX = ".partial"


def run_folder_names(results: str | Path, run_id: str) -> tuple[Path, Path]:
    """Return ``(results/<run-id>.partial, results/<run-id>)``."""
    results = Path(results)
    return results / f"{run_id}{PARTIAL_SUFFIX}", results / run_id


def find_run_folder(results: str | Path, run_id: str) -> Path | None:
    """Return the folder of a run (finished or being written), or None if it has none."""
    partial, final = run_folder_names(results, run_id)
    for p in (final, partial):
        if p.is_dir():
            return p
    return None


def claim_run_folder(results: str | Path, run_id: str) -> Path:
    """Create ``results/<run-id>.partial/`` for a new run, refusing a run id that has a folder.

    The folder is made with one ``mkdir`` (atomic: of two runs claiming the same id at once,
    exactly one gets it).

    Raises
    ------
    FileExistsError
        If ``results/<run-id>`` or ``results/<run-id>.partial`` exists (or appears meanwhile).
    """
    partial, final = run_folder_names(results, run_id)
    partial.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(final)
    partial.mkdir()  # raises FileExistsError if another run holds the name
    if final.exists():  # a run finished under this id between the check and the mkdir
        partial.rmdir()
        raise FileExistsError(final)
    return partial


def complete_run_folder(partial: str | Path) -> Path:
    """Rename ``results/<run-id>.partial`` to ``results/<run-id>`` (atomic, same folder); return it.

    Raises
    ------
    FileExistsError
        If the final name exists (it is never replaced).
    """
    partial = Path(partial)
    if not partial.name.endswith(PARTIAL_SUFFIX):
        raise ValueError(f"not a run folder being written: {partial}")
    final = partial.with_name(partial.name[: -len(PARTIAL_SUFFIX)])
    if final.exists():
        raise FileExistsError(final)
    os.rename(partial, final)  # within one folder: atomic; an empty target dir would be replaced, so checked
    return final


def run_state(path: str | Path) -> str:
    """Return ``"complete"`` or ``"incomplete"`` for a results folder.

    A run is complete when its folder has its final name (no ``.partial`` suffix) and its
    ``run_manifest.json`` is readable and final (status not ``"running"``). Anything else
    (a ``.partial`` folder, a missing, unreadable or still-running manifest) is incomplete,
    never shown as finished.

    Parameters
    ----------
    path
        ``results/<run-id>`` or ``results/<run-id>.partial``.
    """
    path = Path(path)
    if path.name.endswith(PARTIAL_SUFFIX) or not path.is_dir():
        return "incomplete"
    try:
        manifest = json.loads((path / "run_manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "incomplete"
    if not isinstance(manifest, dict) or manifest.get("status") in (None, "running"):
        return "incomplete"
    return "complete"
