"""Broken on purpose: never sends a terminal status for its stream."""

from _minimal import main

if __name__ == "__main__":
    main(bug="no_terminal")
