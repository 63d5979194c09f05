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
