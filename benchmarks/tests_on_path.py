"""Importing this puts ``tests/`` on ``sys.path``: benchmarks build the same random-weight components as the tests.

Those builders (``tests/*_for_tests.py``) are test fixtures, so they are not part of the package.
"""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
