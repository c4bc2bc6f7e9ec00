"""Run the fake Sheets API standalone: `python -m sync_testbed.sheets_server --port 12112 --key-file sa.json`.

It registers one service account and writes its key file (`token_uri` pointed at this server) to `--key-file`,
so a client configured with that key authenticates exactly as against Google.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from ._app import FakeSheets, SheetsHTTPServer


def main(argv: list[str] | None = None) -> int:
    """Parse flags, write the key file, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sync_testbed.sheets_server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--key-file", type=Path, required=True, help="where to write the service account's key")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--rate-429", type=float, default=0.0, help="share of API requests answered 429")
    parser.add_argument("--rate-500", type=float, default=0.0, help="share of API requests answered 500")
    parser.add_argument("--write-quota", type=int, default=None, help="write requests per minute per user")
    args = parser.parse_args(argv)
    api = FakeSheets()
    api.faults.latency_s = args.latency
    api.faults.rate_429 = args.rate_429
    api.faults.rate_500 = args.rate_500
    api.quota_per_minute[True] = args.write_quota
    server = SheetsHTTPServer(api, args.port)
    key = api.auth.service_account(server.token_uri)
    partial = args.key_file.with_name(args.key_file.name + ".partial")
    partial.write_bytes(orjson.dumps(key, option=orjson.OPT_INDENT_2))
    partial.replace(args.key_file)  # whoever waits for the file never reads half of it
    sys.stderr.write(f"fake Sheets API on {server.url}, service account key in {args.key_file}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
