"""The release of this package (one place: the facade, provenance and workers read it)."""

__version__ = "0.1.0"
