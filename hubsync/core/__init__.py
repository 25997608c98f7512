"""The pure core: decisions as functions of data and ``now``.

Only the standard library and pathspec may be imported here: no asyncio, no clock,
no disk, no network. ``tests/core/test_purity.py`` enforces it.
"""
