"""What every console script's ``--help`` ends with: examples, then the exit codes."""
import argparse

from .errors import EXIT_USAGE, exit_codes_text


def _layout(description, examples):
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + exit_codes_text()
    return {"description": description, "epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line (``error: ...``) and exit 2, like every other user error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def make_parser(prog, description, examples):
    return OneLineParser(prog=prog, **_layout(description, examples))


def add_command(subparsers, name, description, examples):
    """A sub-command (``mxdl-pack build``) laid out like a whole command."""
    return subparsers.add_parser(name, help=description.split(";")[0], **_layout(description, examples))


def positive_int(text):
    """An argparse type for counts that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def count_up_to(most):
    """An argparse type for a picture's rows, columns or tile size: 1 to ``most``, so a typo cannot
    ask for an image of tens of gigabytes (the OOM killer ends such a process without a word)."""
    def parse(text):
        value = positive_int(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, got {value}")
        return value
    return parse
