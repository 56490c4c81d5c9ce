"""`python -m bridge.sim`: the same as `alert-bridge simulate`."""

import sys

from bridge.sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
