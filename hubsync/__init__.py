"""hubsync: keep a local HubSpot CMS theme in sync with HubSpot accounts, attributed per user."""

__version__ = "0.1.0"
