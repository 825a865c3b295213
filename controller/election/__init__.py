"""The election definition (``definition``), reading it from a file in the project's or
the NIST form (``load``), and ``shailoo election`` (``cli``)."""
