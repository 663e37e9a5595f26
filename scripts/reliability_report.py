"""Runs the reliability figures: same as ``python -m tests.reliability.report``.

    python scripts/reliability_report.py [--quick] [--out DIR]
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reliability"))

import report  # noqa: E402

if __name__ == "__main__":
    report.main()
