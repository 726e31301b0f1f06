"""`python -m ee_retry.soak`."""

import sys

from ee_retry.soak.cli import main

sys.exit(main())
