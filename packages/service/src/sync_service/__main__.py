"""`python -m sync_service` runs the `sync-service` CLI."""

from ._cli import main

main()
