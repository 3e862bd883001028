"""``python -m fer_lib``: the command line (guarded: worker processes are spawned)."""
import sys

from fer_lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
