"""Hostile-world tests: odd names, locks, control socket, state dir, as real processes."""
