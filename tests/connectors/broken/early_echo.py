"""Broken on purpose: echoes each state at once and stores the records only at the end."""

from _minimal import main

if __name__ == "__main__":
    main(bug="early_echo")
