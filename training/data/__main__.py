"""Run the data recipe CLI as `python -m training.data build ...`."""

import sys

from training.data.cli import main

sys.exit(main())
