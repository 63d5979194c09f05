"""Run the CLI with ``python -m myocit_omics.cli``."""

import sys

from myocit_omics.cli import main

sys.exit(main())
