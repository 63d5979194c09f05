"""Run every benchmark with its default (quick) settings, one after the other.

Each benchmark times the project's code against a baseline measured in the same run
and prints its own figures; this script only runs them in turn and stops on the
first failure. Larger configurations are options of each script (see ``--help``),
e.g. ``benchmarks/de_speed.py --big --huge``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("ingest_speed.py", "cytokine_fit.py", "ifn_score_speed.py", "de_speed.py", "gsea_speed.py")


def main() -> int:
    """Run each benchmark in a fresh interpreter; return the first non-zero exit code."""
    for name in BENCHMARKS:
        print(f"\n===== {name} =====", flush=True)
        code = subprocess.call([sys.executable, str(HERE / name)])
        if code:
            print(f"{name} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
