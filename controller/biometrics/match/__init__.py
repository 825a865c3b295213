"""Minutiae matching: Minutia Cylinder-Code, one-to-one and against a whole gallery."""

from controller.biometrics.match.matcher import Template, compare, match

__all__ = ["Template", "compare", "match"]
