"""``python -m syndicate``: the ``syndicate`` command."""

from syndicate.cli import main

if __name__ == "__main__":  # run as a program, not on a plain import
    main()
