"""Fingerprint verification: ISO/IEC 19794-2 templates, minutiae extraction, matching."""
