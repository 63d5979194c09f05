"""Contrasts as data: from ``study.yaml`` (``contrasts``, ``de.interaction``) or the command line.

A contrast compares two levels of one variable (``visit``: target W4 against reference W0),
paired by patient; its id names every output (``tables/de/<id>.tsv``). An interaction
contrast asks whether the change from reference to target differs between the levels of a
second variable (``visit x responder``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed

if TYPE_CHECKING:  # pydantic and yaml: ~0.1 s that `myocit de` does not need
    from myocit_omics.config import StudyConfig

_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ContrastSpec:
    """One contrast to test.

    Attributes
    ----------
    id
        Names every output of the contrast.
    variable
        The obs column compared (``visit``).
    reference, target
        Levels of ``variable``; the log2 fold change is target over reference.
    paired_by
        The obs column pairing the samples (``patient_id``), or None for an unpaired contrast.
    interaction
        For an interaction contrast, the obs column whose levels modify the change
        (``responder``); None for a plain contrast.
    interaction_level
        The level of ``interaction`` compared with its reference level (``True``).
    """

    id: str
    variable: str
    reference: str
    target: str
    paired_by: str | None = "patient_id"
    interaction: str | None = None
    interaction_level: str | None = None

    @property
    def visits(self) -> tuple[str, str]:
        """The two levels (reference, target)."""
        return (self.reference, self.target)

    def describe(self) -> str:
        """Return a one-line description (``visit W4 vs W0, paired by patient_id``)."""
        text = f"{self.variable} {self.target} vs {self.reference}"
        if self.interaction:
            text += f", difference between {self.interaction}={self.interaction_level} and the rest"
        if self.paired_by:
            text += f", paired by {self.paired_by}"
        return text


def contrast_id(variable: str, target: str, reference: str) -> str:
    """Return the default id of a contrast: ``W4_vs_W0`` for visits, else ``<variable>_<t>_vs_<r>``.

    Characters outside ``[A-Za-z0-9_.-]`` become ``_`` so that the id is a safe file name.
    """
    raw = f"{target}_vs_{reference}" if variable == "visit" else f"{variable}_{target}_vs_{reference}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def contrasts_from_config(config: StudyConfig) -> list[ContrastSpec]:
    """Return the contrasts of ``config.contrasts`` as :class:`ContrastSpec`.

    Parameters
    ----------
    config
        The study configuration (defaults: W4_vs_W0 and W24_vs_W0, paired by patient).

    Returns
    -------
    list of ContrastSpec
        In configuration order.
    """
    return [
        ContrastSpec(id=c.id, variable=c.variable, reference=c.reference, target=c.target,
                     paired_by=c.paired_by)
        for c in config.contrasts
    ]


def interaction_contrasts(
    contrasts: Iterable[ContrastSpec], *, variable: str = "responder", level: str = "True"
) -> list[ContrastSpec]:
    """Return the ``<id>_x_<variable>`` interaction contrast of each plain contrast.

    Parameters
    ----------
    contrasts
        Plain contrasts (visit target vs reference).
    variable
        The obs column modifying the change (default ``responder``).
    level
        Its level compared with the reference level (default ``"True"``).

    Returns
    -------
    list of ContrastSpec
    """
    return [
        ContrastSpec(id=f"{c.id}_x_{variable}", variable=c.variable, reference=c.reference,
                     target=c.target, paired_by=c.paired_by, interaction=variable,
                     interaction_level=level)
        for c in contrasts
        if c.interaction is None
    ]


def parse_contrast(text: str, *, paired_by: str | None = "patient_id") -> ContrastSpec:
    """Parse a command-line contrast ``variable:target:reference`` (``visit:W4:W0``).

    Parameters
    ----------
    text
        ``variable:target:reference``, optionally ``id=variable:target:reference``.
    paired_by
        The pairing column.

    Returns
    -------
    ContrastSpec

    Raises
    ------
    InputError
        If the text does not have three non-empty parts or the id is not file-name safe.
    """
    cid = None
    spec = text
    if "=" in text:
        cid, spec = text.split("=", 1)
    parts = spec.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise InputError("a contrast needs three parts separated by ':'", file="--contrast",
                         value=text, expected="variable:target:reference, e.g. visit:W4:W0",
                         rule="contrast.syntax")
    variable, target, reference = (p.strip() for p in parts)
    if target == reference:
        raise InputError("the target and reference levels of a contrast are the same",
                         file="--contrast", value=text, expected="two different levels",
                         rule="contrast.same_level")
    cid = cid.strip() if cid else contrast_id(variable, target, reference)
    if not _ID.match(cid):
        raise InputError("contrast id is not a safe file name", file="--contrast", value=cid,
                         expected="letters, digits, '_', '.', '-'", rule="contrast.id")
    return ContrastSpec(id=cid, variable=variable, reference=reference, target=target,
                        paired_by=paired_by)


def check_contrasts(contrasts: Sequence[ContrastSpec], obs: pd.DataFrame, *, source: str) -> None:
    """Check, before any fitting, that every contrast's variable and levels exist in ``obs``.

    Parameters
    ----------
    contrasts
        The contrasts to run.
    obs
        Sample table of the samples that will be analysed.
    source
        What ``obs`` came from (a file name), for the messages.

    Raises
    ------
    ValidationFailed
        One problem per missing variable or level, listing the valid alternatives.
    """
    problems: list[Problem] = []
    ids = [c.id for c in contrasts]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(Problem(file=source, message="two contrasts have the same id", value=dup,
                                expected="unique contrast ids", rule="contrast.duplicate_id"))
    for c in contrasts:
        for col in filter(None, (c.variable, c.paired_by, c.interaction)):
            if col not in obs.columns:
                problems.append(Problem(
                    file=source, column=col, value=col,
                    message=f"contrast {c.id!r} needs a column that the sample table does not have",
                    expected=f"one of {sorted(map(str, obs.columns))}", rule="contrast.variable"))
        if c.variable not in obs.columns:
            continue
        levels = sorted(map(str, obs[c.variable].dropna().unique()))
        for role, level in (("reference", c.reference), ("target", c.target)):
            if level not in levels:
                problems.append(Problem(
                    file=source, column=c.variable, value=level,
                    message=f"contrast {c.id!r}: {role} level not found among the analysed samples",
                    expected=f"one of {levels}", rule="contrast.level"))
        if c.interaction and c.interaction in obs.columns:
            ilevels = sorted(map(str, obs[c.interaction].dropna().unique()))
            if c.interaction_level not in ilevels:
                problems.append(Problem(
                    file=source, column=c.interaction, value=c.interaction_level,
                    message=f"contrast {c.id!r}: interaction level not found",
                    expected=f"one of {ilevels}", rule="contrast.level"))
    if problems:
        raise ValidationFailed(problems, context=f"contrasts on {source}")


def contrasts_summary(contrasts: Iterable[ContrastSpec]) -> list[dict[str, Any]]:
    """Return the contrasts as plain dicts (for the manifest)."""
    return [
        {"id": c.id, "variable": c.variable, "reference": c.reference, "target": c.target,
         "paired_by": c.paired_by, "interaction": c.interaction,
         "interaction_level": c.interaction_level}
        for c in contrasts
    ]
