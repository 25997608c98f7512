"""``python -m hubsync``: the same as the ``hubsync`` command."""

import sys

from hubsync.cli import main

sys.exit(main())
