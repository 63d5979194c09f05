"""Seeded generator of the synthetic MYOCIT demo study (``data/demo``); model in docs/synthetic.md."""

from myocit_omics.synthetic.writer import DEFAULT_SEED, write_demo_study

__all__ = ["DEFAULT_SEED", "write_demo_study"]
