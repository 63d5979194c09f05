"""Validation at the door, in two layers (DESIGN.md convention 2).

- :mod:`~myocit_omics.validate.schemas`: row schemas (columns, types, allowed values, ranges, ids);
- :mod:`~myocit_omics.validate.identifiers`: direct identifiers refused (names, dates of birth,
  addresses, phone numbers, e-mails);
- :mod:`~myocit_omics.validate.manifest`: the batch manifest;
- :mod:`~myocit_omics.validate.batch`: a whole batch, every file, then the cross-file checks
  (sheet vs matrix both ways, duplicates, a visit recorded twice, unknown patients).

Every check returns :class:`~myocit_omics.errors.Problem` objects (file, row, column, value,
rule, expected, fix); nothing stops at the first problem.
"""
