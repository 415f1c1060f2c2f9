"""Test helpers shared by several test folders (importable: pytest pythonpath=tests)."""
