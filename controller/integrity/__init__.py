"""Tamper evidence: the station's Ed25519 key (``station_key``), the signed checkpoints
of the audit chain (``seals``), the digest of the cast vote records signed at closing
(``cvr_set``) and the check that the audit, the records and the results agree
(``verify``). See ``docs/audit.md``."""
