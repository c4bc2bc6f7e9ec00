"""Broken on purpose: exits through os._exit with its output still in a buffer."""

from _minimal import main

if __name__ == "__main__":
    main(bug="lost_output")
