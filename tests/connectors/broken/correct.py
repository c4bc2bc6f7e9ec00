"""The minimal connector without a bug: proves the broken variants fail for their bug alone."""

from _minimal import main

if __name__ == "__main__":
    main()
