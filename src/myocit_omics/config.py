"""Study configuration (``study.yaml``): vocabularies, contrasts, reference, parameters.

The file lives at the root of the study home (``data/demo/study.yaml`` for the demo).
Each analysis concern keeps its parameters in its own section (``expression``,
``interferon``, ``de``, ``cytokines``, ``clinical``, ``linking``, ``composition``); sections are
plain mappings read by the module that owns them, so that a module can add a
parameter without touching this file. Unknown top-level keys are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from myocit_omics.errors import InputError, Problem, ValidationFailed

#: Visit labels of the protocol; unscheduled visits are ``UNS-<n>``.
PROTOCOL_VISITS = ("W0", "W4", "W8", "W12", "W24")
UNSCHEDULED_VISIT = re.compile(r"^UNS-\d+$")


class Contrast(BaseModel):
    """One contrast, as data (DESIGN.md convention 4)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="names every output of the contrast")
    variable: str = "visit"
    reference: str
    target: str
    paired_by: str | None = "patient_id"


class Reference(BaseModel):
    """Which samples define 'normal' for IFN scores."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["healthy_control", "pooled_visit"] = "pooled_visit"
    visit: str | None = "W0"


class StudyConfig(BaseModel):
    """Validated content of ``study.yaml``."""

    model_config = ConfigDict(extra="forbid")

    study: str
    patient_id_pattern: str = r"^MYO-\d{2}$"
    patients: list[str] | None = None
    visits: list[str] = Field(default_factory=lambda: list(PROTOCOL_VISITS))
    omics_visits: list[str] = Field(default_factory=lambda: ["W0", "W4", "W24"])
    reference: Reference = Field(default_factory=Reference)
    contrasts: list[Contrast] = Field(
        default_factory=lambda: [
            Contrast(id="W4_vs_W0", reference="W0", target="W4"),
            Contrast(id="W24_vs_W0", reference="W0", target="W24"),
        ]
    )
    seed: int = 20221110
    expression: dict[str, Any] = Field(default_factory=dict)
    interferon: dict[str, Any] = Field(default_factory=dict)
    de: dict[str, Any] = Field(default_factory=dict)
    cytokines: dict[str, Any] = Field(default_factory=dict)
    clinical: dict[str, Any] = Field(default_factory=dict)
    linking: dict[str, Any] = Field(default_factory=dict)
    execution: dict[str, Any] = Field(default_factory=dict)  # task_runner, n_workers (flows/runners.py)
    #: blood composition (myocit_omics.composition.pipeline); ``enabled: false`` skips the step
    composition: dict[str, Any] = Field(default_factory=dict)

    @field_validator("patient_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value

    def is_valid_visit(self, visit: str) -> bool:
        """Return True if ``visit`` is a configured visit or an unscheduled ``UNS-<n>``."""
        return visit in self.visits or bool(UNSCHEDULED_VISIT.match(visit))

    def is_valid_patient(self, patient_id: str) -> bool:
        """Return True if ``patient_id`` matches the pattern (and the list, when one is given)."""
        if not re.match(self.patient_id_pattern, patient_id):
            return False
        return self.patients is None or patient_id in self.patients


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a ``study.yaml``.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    StudyConfig
        The validated configuration.

    Raises
    ------
    InputError
        If the file is missing or is not YAML.
    ValidationFailed
        With one problem per invalid field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "study configuration not found", file=str(path), expected="a study.yaml file",
            rule="config.missing", fix="create it (see data/demo/study.yaml) or pass --home",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid YAML: {exc}", file=str(path), rule="config.yaml") from None
    if not isinstance(raw, dict):
        raise InputError("expected a mapping at the top level", file=str(path), value=type(raw).__name__,
                         rule="config.shape")
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(file=str(path), column=".".join(str(x) for x in err["loc"]), value=err.get("input"),
                    message=err["msg"], rule="config.field")
            for err in exc.errors()
        ]
        raise ValidationFailed(problems, context=str(path)) from None


def default_study_config() -> StudyConfig:
    """Return the MYOCIT defaults (16 patients MYO-01..MYO-16, visits W0..W24)."""
    return StudyConfig(study="MYOCIT", patients=[f"MYO-{i:02d}" for i in range(1, 17)])
