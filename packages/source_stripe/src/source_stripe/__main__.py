"""Console entry point of `source-stripe`."""

from __future__ import annotations

from sync_protocol.sdk import main as sdk_main

from ._connector import StripeSource


def main() -> None:
    """Run the command given on the command line and exit with its code."""
    sdk_main(StripeSource(), prog="source-stripe")


if __name__ == "__main__":
    main()
