"""Ballots: laying out, rendering and reading the sheets of an election's ballot styles."""
