"""Conformance of the emulator with HubSpot's own ``hs`` CLI 8.14.0."""
