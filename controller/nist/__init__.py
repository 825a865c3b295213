"""NIST interchange formats: SP 1500-100 election definitions and SP 1500-103 cast vote records.

``schemas`` validates documents against the published JSON schemas (copies kept in
``schemas/``), ``references`` checks what the schemas cannot (that every id points at
an object of the right kind), ``election_report`` converts between the NIST election
report and the project's own form, and ``cvr`` writes the cast vote records.
"""
