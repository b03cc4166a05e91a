"""``python -m lara`` is the ``lara`` command."""

import sys

from lara.cli import main

sys.exit(main())
