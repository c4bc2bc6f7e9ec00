"""Run `localstripe` (an independent fake Stripe) on 127.0.0.1 only, with its pickle persistence turned off.

python -m tests.localstripe_launcher PORT
"""

from __future__ import annotations

import sys


def main() -> None:
    """Serve localstripe's app on 127.0.0.1:PORT from an empty store, never writing state to disk."""
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
