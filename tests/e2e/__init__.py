"""Test package (tests are packages so that mypy and pytest name each module by its path)."""
