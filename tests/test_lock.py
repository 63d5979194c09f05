"""requirements.lock: complete and hashed; the running environment is checked against it (status,
--version) and its digest goes into every run manifest."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from myocit_omics import lock
from myocit_omics.cli import main

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"


def _requirement_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("test", "browser"):
        reqs += project["optional-dependencies"][extra]
    return {lock.normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in reqs}


def test_the_lock_pins_every_requirement_with_hashes():
    text = LOCK.read_text()
    pins = lock.parse_lock(text)
    names = {name for name, _, _ in pins}
    assert _requirement_names() <= names, sorted(_requirement_names() - names)
    assert "myocit-omics" not in names                    # the project itself is installed with --no-deps
    # every pin is followed by at least one sha256 hash (pip --require-hashes needs them)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    pinned = [b for b in blocks if "==" in b.splitlines()[0]]
    assert len(pinned) == len(pins)
    for block in pinned:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]
    assert not re.search(r"file://|/opt/|--index-url|--extra-index-url|--find-links", text)   # only PyPI


def _write_lock(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "requirements.lock"
    body = []
    for line in lines:
        body += [f"{line} \\", f"    --hash=sha256:{'0' * 64}"]
    path.write_text("\n".join(body) + "\n")
    return path


def test_a_matching_environment_is_reported_as_matching(tmp_path):
    numpy = importlib.metadata.version("numpy")
    path = _write_lock(tmp_path, [f"numpy=={numpy}", "PyYAML==" + importlib.metadata.version("pyyaml"),
                                  "pywin32==1.0 ; sys_platform == 'win32'"])   # not for this platform
    status = lock.check_environment(path)
    assert status.matches is True and status.mismatches == [] and status.n_pins == 2
    assert status.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "matches requirements.lock" in status.describe()


def test_a_mismatch_is_reported_by_status_and_version(tmp_path, monkeypatch, capsys, study_home):
    numpy = importlib.metadata.version("numpy")
    path = _write_lock(tmp_path, [f"numpy=={numpy}.post999", "no-such-package-myocit==1.0",
                                  "pandas==" + importlib.metadata.version("pandas")])
    status = lock.check_environment(path)
    assert status.matches is False
    assert status.mismatches == [f"numpy: locked {numpy}.post999, installed {numpy}",
                                 "no-such-package-myocit: locked 1.0, not installed"]

    monkeypatch.setenv("MYOCIT_LOCK_FILE", str(path))
    assert main(["status", "--home", str(study_home)]) == 0
    out = capsys.readouterr().out
    assert "does NOT match" in out and "2 difference(s)" in out
    assert f"numpy: locked {numpy}.post999, installed {numpy}" in out
    assert main(["status", "--home", str(study_home), "--json"]) == 0
    assert '"matches_environment": false' in capsys.readouterr().out

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("myocit-omics ") and "does NOT match" in out and "no-such-package-myocit" in out


def test_the_run_manifest_carries_the_lock_digest_next_to_the_versions(tmp_path, monkeypatch):
    from myocit_omics.manifest import RunManifest

    path = _write_lock(tmp_path, ["numpy==0.0.1"])
    monkeypatch.setenv("MYOCIT_LOCK_FILE", str(path))
    monkeypatch.setattr(lock, "_RECORD", None)            # computed once per process: recompute here
    data = RunManifest(run_id="r", path=tmp_path / "run_manifest.json").to_dict()
    assert "numpy" in data["software"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    installed = importlib.metadata.version("numpy")
    assert data["lock"] == {"file": "requirements.lock", "sha256": digest, "matches_environment": False,
                            "mismatches": [f"numpy: locked 0.0.1, installed {installed}"]}
    monkeypatch.setattr(lock, "_RECORD", None)


def test_without_a_lock_file_the_check_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("MYOCIT_LOCK_FILE", str(tmp_path / "absent.lock"))
    status = lock.check_environment()
    assert status.matches is False and "cannot read the lock file" in status.mismatches[0]
    assert lock.check_environment(None).path == tmp_path / "absent.lock"
    assert lock.LockStatus(path=None).matches is None
