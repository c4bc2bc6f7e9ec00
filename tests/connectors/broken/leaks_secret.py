"""Broken on purpose: logs its API key during `check`."""

from _minimal import main

if __name__ == "__main__":
    main(bug="leaks_secret")
