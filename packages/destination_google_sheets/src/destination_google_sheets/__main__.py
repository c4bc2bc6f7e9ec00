"""Entry point of the `destination-google-sheets` executable."""

from sync_protocol.sdk import main as run_connector

from ._connector import GoogleSheetsDestination


def main() -> None:
    """Run the connector's command line."""
    run_connector(GoogleSheetsDestination(), prog="destination-google-sheets")


if __name__ == "__main__":
    main()
