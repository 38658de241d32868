"""Bounded load test from a checkout: the same as ``python -m slicevlm.serve.load_test``.

    python lightning_app/load_test.py --checkpoint runs/demo/checkpoint --clients 64 --requests 4
"""

import sys

from slicevlm.serve.load_test import main

if __name__ == "__main__":
    sys.exit(main())
