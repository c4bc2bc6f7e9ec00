"""Entry point of the `destination-postgres` executable."""

from sync_protocol.sdk import main as sdk_main

from ._connector import PostgresDestination


def main() -> None:
    """Run one command of the connector with the process's argv and exit with its code."""
    sdk_main(PostgresDestination(), prog="destination-postgres")


if __name__ == "__main__":
    main()
