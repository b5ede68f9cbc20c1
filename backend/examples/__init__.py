"""Bundled example inputs (see astronaut/README.md for provenance)."""

from pathlib import Path

ASTRONAUT = Path(__file__).resolve().parent / "astronaut"
