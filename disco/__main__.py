"""`python -m disco ...` runs the `disco` command line (see :mod:`disco.cli.disco`)."""
from disco.cli.disco import main

if __name__ == "__main__":
    main()
