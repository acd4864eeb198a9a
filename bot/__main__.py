"""`python -m bot` is the same as `reportbot`."""

import sys

from bot.cli import main

sys.exit(main())
