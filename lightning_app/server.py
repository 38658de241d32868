"""Serve a SliceVLM checkpoint from a checkout: the same as ``slicevlm serve``.

    python lightning_app/server.py --checkpoint runs/demo/checkpoint            # http://127.0.0.1:8000

The server lives in the package (``slicevlm.serve``); ``--help`` lists its options.
"""

import sys

from slicevlm.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
