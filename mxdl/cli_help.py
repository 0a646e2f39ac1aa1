"""What every console script's ``--help`` ends with: examples, then the exit codes."""
import argparse

EXIT_CODES = ("exit codes: 0 done; 1 failed; 2 usage or input error (one line on stderr); "
              "75 stopped on request with a checkpoint (mxdl-train, mxdl-launch)")


def _layout(description, examples):
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + EXIT_CODES
    return {"description": description, "epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}


def make_parser(prog, description, examples):
    return argparse.ArgumentParser(prog=prog, **_layout(description, examples))


def add_command(subparsers, name, description, examples):
    """A sub-command (``mxdl-pack build``) laid out like a whole command."""
    return subparsers.add_parser(name, help=description.split(";")[0], **_layout(description, examples))
