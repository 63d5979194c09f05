"""Errors shown to users: each names the file, row, column, value and what was expected.

Every reader and validator raises :class:`InputError` (one problem) or
:class:`ValidationFailed` (several problems, all reported at once). The CLI turns
both into a plain message and exit code 2; a user never sees a traceback for bad input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, with enough detail to fix it.

    Attributes
    ----------
    file
        The file (path as the user handed it in, or its name inside the batch).
    message
        What is wrong, in words.
    row
        1-based row number in the file as a spreadsheet shows it, if known.
    column
        Column name, if known.
    value
        The offending value as found, if any.
    expected
        What would be right.
    rule
        Short identifier of the rule (e.g. ``range.cmas``), stable for tests.
    fix
        How to fix it.
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    value: Any = None
    expected: str | None = None
    rule: str = "input"
    fix: str | None = None
    severity: str = "error"
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Return a one-line description: file, row, column, value, expected."""
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = f"{', '.join(where)}: {self.message}"
        if self.value is not None:
            text += f" (found {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.fix:
            text += f". Fix: {self.fix}"
        return f"{text} [{self.rule}]"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of this problem."""
        d = asdict(self)
        if d["value"] is not None and not isinstance(d["value"], (str, int, float, bool)):
            d["value"] = repr(d["value"])
        return d


class MyocitError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(MyocitError, ValueError):
    """Bad user input: one :class:`Problem`.

    Parameters
    ----------
    problem_or_message
        A :class:`Problem`, or a message (then ``file`` etc. may be given as keywords).
    """

    def __init__(self, problem_or_message: Problem | str, **kwargs: Any) -> None:
        if isinstance(problem_or_message, Problem):
            problem = problem_or_message
        else:
            problem = Problem(file=kwargs.pop("file", "<input>"), message=problem_or_message, **kwargs)
        self.problem = problem
        self.problems = [problem]
        super().__init__(problem.describe())


class ValidationFailed(MyocitError, ValueError):
    """Bad user input: every problem found, not only the first.

    Parameters
    ----------
    problems
        The problems, in the order found.
    context
        What was being validated (a batch name, a file).
    """

    def __init__(self, problems: list[Problem], context: str = "input") -> None:
        self.problems = list(problems)
        self.context = context
        lines = [f"{context}: {len(self.problems)} problem(s) found"]
        lines += [f"  - {p.describe()}" for p in self.problems]
        super().__init__("\n".join(lines))


class AnalysisError(MyocitError, RuntimeError):
    """An analysis step cannot proceed (e.g. a rank-deficient design); says why and what to do."""
