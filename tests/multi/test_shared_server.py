"""The shared Prefect server on PostgreSQL: basic auth enforced; `myocit dashboard --api-url` serves on it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]



def _sigint_default() -> None:
    """Give the child SIGINT's default disposition: the test stops it with Ctrl-C's signal.

    A suite started as a script's background job inherits SIGINT ignored, and so would the child
    (the commands keep an inherited SIG_IGN on purpose, docs: SIGTERM always stops them).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)

@pytest.mark.postgres
def test_the_database_is_postgresql_with_pg_trgm(installation):
    tables = installation.postgres.psql(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name IN ('flow_run', 'task_run', 'artifact')",
        database="prefect")
    assert tables.strip() == "3"        # Prefect migrated its schema into PostgreSQL, not SQLite
    assert "pg_trgm" in installation.postgres.psql("SELECT extname FROM pg_extension", database="prefect")
    assert not list((installation.server.prefect_home).glob("*.db"))


@pytest.mark.postgres
def test_a_request_without_the_auth_string_is_refused(multi, installation, api):
    anonymous = multi.Api(api.base, None)
    assert anonymous.status("/health")[0] == 200                      # health stays open
    code, _ = anonymous.status("/flow_runs/filter", {})
    assert code == 401
    wrong = multi.Api(api.base, installation.auth_string.split(":")[0] + ":not-the-password")
    assert wrong.status("/flow_runs/filter", {})[0] == 401
    assert api.status("/flow_runs/filter", {})[0] == 200


@pytest.mark.postgres
def test_a_client_without_the_auth_string_cannot_run_a_flow(multi, installation, tmp_path):
    code = "from prefect import flow\n@flow\ndef f():\n    return 1\nprint(f())\n"
    env = multi.client_env(installation)
    env.pop("PREFECT_API_AUTH_STRING")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode != 0
    assert "401" in res.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_myocit_dashboard_serves_the_deployments_against_it(multi, installation, api, tmp_path):
    support = multi.dashboard_support()
    home = tmp_path / "home"
    home.mkdir()
    (home / "study.yaml").write_bytes((REPO / "data" / "demo" / "study.yaml").read_bytes())
    shutil.copytree(REPO / "data" / "demo" / "signatures", home / "signatures")  # named in study.yaml
    out = tmp_path / "dashboard.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "myocit_omics.cli", "dashboard", "--home", str(home),
                                 "--api-url", installation.api_url], cwd=REPO,
                                env=multi.client_env(installation),
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_sigint_default)
    try:
        def served():
            if proc.poll() is not None:
                raise AssertionError(f"myocit dashboard exited ({proc.returncode}):\n{out.read_text()}")
            deps = {d["name"]: d for d in api("/deployments/filter", {})}
            return deps if {"trial-analysis", "ingest-batch", "ingest-inbox"} <= set(deps) else None

        deps = support.wait_for(served, timeout=300, what="the deployments served by myocit dashboard")
        assert deps["trial-analysis"]["parameters"] == {"home": str(home)}
        limit = deps["trial-analysis"]["global_concurrency_limit"]
        assert limit["limit"] == 1
        assert deps["trial-analysis"]["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        # a run of a served deployment, through the authenticated API: the form's schema is enforced
        code, text = api.status(f"/deployments/{deps['trial-analysis']['id']}/create_flow_run",
                                {"parameters": {"visits": ["W99"]}})
        assert code == 409 and "W99" in text
        assert f"Prefect dashboard: {installation.server.url}" in out.read_text()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, out.read_text()[-3000:]
    assert installation.server.healthy()             # the dashboard did not stop a server it did not start


@pytest.mark.postgres
def test_myocit_lab_server_runs_both_until_ctrl_c(multi, tmp_path):
    import shutil

    support = multi.dashboard_support()
    from myocit_omics.errors import AnalysisError
    from myocit_omics.postgres import pg_bindir

    try:
        pg_bindir()
    except AnalysisError as exc:
        pytest.skip(f"PostgreSQL is not installed: {exc}")
    state = multi.state_dir()
    port = support.free_port()
    out = tmp_path / "lab-server.out"
    env = support.cli_env()
    env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    try:
        with open(out, "wb") as fh:
            cmd = [sys.executable, "-m", "myocit_omics.cli", "lab-server", "--dir", str(state),
                   "--port", str(port)]
            proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_sigint_default)
        try:
            support.wait_for(lambda: "Press Ctrl-C" in out.read_text() or proc.poll() is not None,
                             timeout=300, what="myocit lab-server to start")
            text = out.read_text()
            assert proc.poll() is None, text
            auth = (state / "auth_string").read_text().strip()
            assert oct((state / "auth_string").stat().st_mode & 0o777) == "0o600"
            assert f"export PREFECT_API_URL=http://127.0.0.1:{port}/api" in text
            api = multi.Api(f"http://127.0.0.1:{port}", auth)
            assert api.status("/flow_runs/filter", {})[0] == 200
            assert multi.Api(api.base, None).status("/flow_runs/filter", {})[0] == 401
            started = [proc.pid, *multi.descendants(proc.pid)]
            assert len(started) >= 3         # the command, PostgreSQL (and its backends), the server
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        assert proc.returncode == 0, out.read_text()[-3000:]
        assert "Stopped PostgreSQL and the Prefect server." in out.read_text()
        support.wait_for(lambda: not any(support.alive(p) for p in started), timeout=30,
                         what="every process of myocit lab-server to end")
        assert (state / "postgres" / "data" / "PG_VERSION").is_file()   # the cluster stays for next time
    finally:
        shutil.rmtree(state, ignore_errors=True)
