"""Broken on purpose: prints records with the payload beside `type` instead of under `record`."""

from _minimal import main

if __name__ == "__main__":
    main(bug="wrong_envelope")
