"""``python -m myocit_omics.synthetic [OUT_DIR] [--seed N]``: write the demo study (default data/demo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from myocit_omics.settings import demo_dir
from myocit_omics.synthetic import DEFAULT_SEED, write_demo_study


def main() -> None:
    """Parse the arguments and write the study."""
    parser = argparse.ArgumentParser(prog="python -m myocit_omics.synthetic", description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    info = write_demo_study(args.out_dir or demo_dir(), seed=args.seed)
    print(f"wrote {len(info['files'])} files to {info['out_dir']}")


if __name__ == "__main__":
    main()
