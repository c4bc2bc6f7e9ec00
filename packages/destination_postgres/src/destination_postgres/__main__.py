"""Entry point; the connector is being written (see its issue)."""

import sys


def main() -> None:
    """Not implemented yet: exits 2 with a one-line message."""
    sys.stderr.write("error: this connector is not implemented yet\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
