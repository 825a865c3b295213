"""The ``shailoo`` command line: one entry point, a subcommand per job."""

__version__ = "0.1.0"
