"""Peripheral protocols over byte streams: the byte-level parts run on both interpreters."""
