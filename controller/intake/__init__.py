"""Ballot intake: a scanner's sheet from its image chunks to the ballot box.

``reassembly`` puts a sheet's image together from its chunks, ``decision`` turns the
reader's result into cast or return with the reason and what the voter is told,
``ledger`` keeps the sheets and the cast vote records in SQL, and ``sheets`` runs a
sheet through the three for the dispatcher.
"""
