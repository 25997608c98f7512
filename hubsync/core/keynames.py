"""Where an account's key is looked up, by name: pure naming rules.

Shared by ``credentials`` (which looks there) and ``config`` (whose errors tell the
user where to put a key), so the two never disagree.
"""

from __future__ import annotations

import re


def env_var_name(account: str) -> str:
    """``HUBSYNC_KEY_MY_STAGE`` for account ``my-stage``."""
    return "HUBSYNC_KEY_" + re.sub(r"[^A-Z0-9]", "_", account.upper())
