"""`python -m ee_retry.bench`: see `ee_retry.bench.cli`."""

import sys

from ee_retry.bench.cli import main

sys.exit(main())
