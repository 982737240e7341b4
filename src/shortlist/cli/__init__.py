"""The ``shortlist`` command line: one module per command (see :mod:`shortlist.cli.main`)."""
