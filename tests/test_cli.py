from __future__ import annotations

import subprocess
import sys

from myocit_omics.cli import COMMANDS, main


def test_help_lists_every_subcommand_with_a_line(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        cmd = name.replace("_", "-")
        lines = [ln for ln in out.splitlines() if ln.strip().startswith(cmd + " ")]
        assert lines, f"{cmd} missing from myocit --help"
        assert len(lines[0].split()) > 2, f"{cmd} has no help line"


def test_each_subcommand_has_help():
    for name in COMMANDS:
        cmd = name.replace("_", "-")
        proc = subprocess.run([sys.executable, "-m", "myocit_omics.cli", cmd, "--help"],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert f"usage: myocit {cmd}" in proc.stdout


def test_a_subcommand_imports_only_its_own_module():
    code = (
        "import sys; from myocit_omics.cli import build_parser; build_parser('status'); "
        "print('myocit_omics.interferon.methods' in sys.modules, 'myocit_omics.cli.ifn_score' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "False"]


def test_bad_input_is_a_message_and_exit_2_not_a_traceback(tmp_path, capsys):
    code = main(["analyze", "--home", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2
    assert "study home does not exist" in err and "Traceback" not in err


def test_unknown_contrast_is_refused_before_any_flow_starts(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    code = main(["analyze", "--home", str(home), "--contrast", "W99"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown contrast" in err and "W4_vs_W0" in err and "Traceback" not in err
