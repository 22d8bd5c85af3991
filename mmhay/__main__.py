"""``python -m mmhay``: the ``mmhay`` command (how ``torchrun -m mmhay eval ...`` starts it)."""

import sys

from mmhay.cli import main

sys.exit(main())
