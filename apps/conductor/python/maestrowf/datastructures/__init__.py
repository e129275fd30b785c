"""Stand-in for `maestrowf.datastructures` (see maestrowf/__init__.py)."""
