"""Which task runner the trial-analysis flow uses: a setting, never a code change.

The setting, first found wins: the flow parameter ``task_runner``, the environment variable
``MYOCIT_TASK_RUNNER``, ``execution.task_runner`` in study.yaml, else ``threads``.

* ``threads``: Prefect's ThreadPoolTaskRunner (in the flow's process).
* ``dask``: prefect-dask's DaskTaskRunner on a LocalCluster started for the run and stopped
  after it: ``execution.n_workers`` (default 2) worker processes, one thread each, no
  dashboard.
* ``dask://host:port`` or ``tcp://host:port``: an existing Dask cluster (its workers need
  this package installed and the study home at the same path).

prefect-dask and dask are imported only when a Dask runner is chosen.
"""

from __future__ import annotations

import os
from typing import Any

from myocit_omics.errors import InputError

#: Environment variable naming the task runner.
ENV_VAR = "MYOCIT_TASK_RUNNER"
DEFAULT = "threads"


def runner_setting(parameter: str | None = None, execution: dict[str, Any] | None = None) -> str:
    """Return the runner setting: parameter, then ``$MYOCIT_TASK_RUNNER``, then study.yaml, then threads."""
    for value in (parameter, os.environ.get(ENV_VAR), (execution or {}).get("task_runner")):
        if value is not None and str(value).strip():
            return str(value).strip()
    return DEFAULT


def describe(setting: str) -> str:
    """Return the setting in words, for logs and the run plan."""
    if setting == "threads":
        return "threads (Prefect ThreadPoolTaskRunner, in the flow's process)"
    if setting == "dask":
        return "dask (a LocalCluster of worker processes started for this run)"
    return f"dask cluster at {_address(setting)}"


def _address(setting: str) -> str:
    return "tcp://" + setting[len("dask://"):] if setting.startswith("dask://") else setting


def make_task_runner(setting: str, execution: dict[str, Any] | None = None) -> Any:
    """Return a Prefect task runner for a setting (see the module docstring).

    Raises
    ------
    InputError
        For an unknown setting, or ``dask`` when prefect-dask is not installed.
    """
    execution = execution or {}
    if setting == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        workers = execution.get("max_workers")
        return ThreadPoolTaskRunner(max_workers=int(workers)) if workers else ThreadPoolTaskRunner()
    if setting == "dask" or setting.startswith(("dask://", "tcp://")):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise InputError("the dask task runner needs prefect-dask", file="parameter task_runner",
                             value=setting, rule="task_runner.dask",
                             fix="pip install prefect-dask, or use task_runner threads") from None
        if setting == "dask":
            n_workers = int(execution.get("n_workers", 2))
            return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1,
                                                  "processes": True, "dashboard_address": None})
        return DaskTaskRunner(address=_address(setting))
    raise InputError("unknown task runner", file="parameter task_runner", value=setting,
                     expected="threads, dask, dask://host:port or tcp://host:port", rule="task_runner.spec",
                     fix=f"set task_runner (or ${ENV_VAR}, or execution.task_runner in study.yaml) "
                     "to one of those")
