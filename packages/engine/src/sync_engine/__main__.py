"""`python -m sync_engine` runs the `sync-engine` command line."""

from ._cli import main

main()
