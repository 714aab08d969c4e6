"""Command line: ``python -m skactive COMMAND [FLAGS]``.

One entry point for every command. Each command's module is imported only
when it runs, so ``serve`` never loads the experiment harness and ``demo``
never loads Flask. Flags without a command run the demo, as they always
have (``python -m skactive --strategies random,dfal``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command -> (module, function, help); the function takes the arguments
#: after the command, or all of them where the module parses the command too.
COMMANDS = {
    "demo": (
        "skactive.experiments.cli",
        "demo_main",
        "compare strategies on an image data set: a table, a plot and a CSV (the default)",
    ),
    "run": (
        "skactive.experiments.cli",
        "run_main",
        "the DFAL paper's protocol as a resumable grid, with its figures and tables",
    ),
    "serve": (
        "skactive.label_studio.cli",
        "main",
        "serve an active learner to Label Studio as its ML backend",
    ),
    "label-studio": (
        "skactive.label_studio.cli",
        "main",
        "talk to Label Studio's REST API ('label-studio sync': teach new annotations, "
        "push fresh predictions)",
    ),
}

#: Commands whose parser reads the command name itself.
_PARSES_ITS_NAME = ("serve", "label-studio")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: its help lists every command (each has its own ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m skactive",
        description="Active learning for deep networks: simulate campaigns, reproduce the "
        "DFAL paper's protocol, or order a Label Studio project's queue.",
        epilog="Run 'python -m skactive COMMAND --help' for a command's flags. Flags "
        "without a command run the demo.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text)
    return parser


def main(argv=None) -> int:
    """Run the command ``argv`` names (the demo when it names none)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        build_parser().error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
    command = argv[0] if argv and argv[0] in COMMANDS else "demo"
    rest = argv[1:] if argv and argv[0] == command else argv
    module, function, _ = COMMANDS[command]
    run = getattr(importlib.import_module(module), function)
    return run([command, *rest] if command in _PARSES_ITS_NAME else rest)


if __name__ == "__main__":
    sys.exit(main())
