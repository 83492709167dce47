"""`make bench` runs every bench_*.py: this runs the reliability report
(bench/reliability.py, also `make reliability`)."""

from __future__ import annotations

import sys

from reliability import main

if __name__ == "__main__":
    sys.exit(main())
