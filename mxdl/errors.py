"""One exception type for mistakes the user can fix.

Command-line entry points catch it and print a single ``error: ...`` line
instead of a traceback; anything else is a bug and keeps its traceback.
"""
import functools
import os
import sys

from .runinfo import EXIT_USAGE


class UserError(Exception):
    """Bad input, config or state that the user can correct."""


def cli_entry(main):
    """Wrap a console entry point: UserError becomes one line and exit code 2."""
    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UserError as err:
            if os.environ.get("HOROVOD_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")) == "0":
                print(f"error: {err}", file=sys.stderr)  # one line, from rank 0 only
            return EXIT_USAGE
    return wrapper
