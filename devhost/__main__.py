"""``python -m devhost``: run function_app.py locally (see devhost.server)."""

import sys

from devhost.server import main

sys.exit(main())
