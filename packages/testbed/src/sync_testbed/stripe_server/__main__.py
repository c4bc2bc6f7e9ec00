"""Run the fake Stripe API standalone: `python -m sync_testbed.stripe_server --port 12111 --seed 7 --scale 1000000`."""

from __future__ import annotations

import argparse
import sys

from ._app import FakeStripe, StripeHTTPServer
from ._data import Store, load_samples

DEFAULT_STREAMS = "customers,charges,invoices,payment_intents,refunds"


def main(argv: list[str] | None = None) -> int:
    """Parse flags, generate data, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sync_testbed.stripe_server", description=__doc__)
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice (data is deterministic)")
    parser.add_argument("--scale", type=int, default=1000, help="generated objects per stream")
    parser.add_argument("--streams", default=DEFAULT_STREAMS, help="comma-separated list paths to fill")
    parser.add_argument("--start", type=int, default=1_600_000_000, help="first created second")
    parser.add_argument("--end", type=int, default=1_700_000_000, help="created seconds end before this")
    parser.add_argument("--key", action="append", default=None, help="accepted API key (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--rate-429", type=float, default=0.0, help="share of requests answered 429")
    parser.add_argument("--rate-500", type=float, default=0.0, help="share of requests answered 500")
    parser.add_argument("--rate-reset", type=float, default=0.0, help="share of connections reset")
    parser.add_argument(
        "--endpoint-rate", type=float, default=0.0, help="requests/s per endpoint before a 429 (Stripe: 25; 0 = off)"
    )
    parser.add_argument("--request-log", help="append each request's arrival (time.monotonic() seconds) to this file")
    args = parser.parse_args(argv)
    store = Store(load_samples(), start=args.start, end=args.end)
    for path in filter(None, args.streams.split(",")):
        store.generate(path, args.scale)
    api = FakeStripe(store, keys=dict.fromkeys(args.key or ["sk_test_fake"], "ok"))
    api.reseed(args.seed)
    api.faults.latency_s = args.latency
    api.faults.rate_429 = args.rate_429
    api.faults.rate_500 = args.rate_500
    api.faults.rate_reset = args.rate_reset
    api.faults.endpoint_rate = args.endpoint_rate
    if args.request_log:
        api.request_log = open(args.request_log, "a")  # open while the server runs
    server = StripeHTTPServer(api, args.port)
    sys.stderr.write(f"fake Stripe API on {server.url} ({args.scale} objects per stream)\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if api.request_log is not None:
            api.request_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
