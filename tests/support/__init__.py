"""Helpers shared by several test folders: test keyrings and running `hubsync` processes."""
