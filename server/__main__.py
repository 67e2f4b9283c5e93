"""``python -m server``: run the OSC server."""

import sys

from server.cli import main

sys.exit(main())
