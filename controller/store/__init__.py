"""What the station keeps: the SQLite store (``database``) and its hash-chained audit
log (``audit``)."""
