"""The ``hubsync`` command line: argparse, one error funnel, no business logic.

Each subcommand lives in ``hubsync.commands.<name>`` with two functions:
``configure(parser)`` adds its arguments and ``run(args) -> int`` does the work. Those
modules import their heavy dependencies inside ``run`` so ``hubsync --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import sys
import traceback
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NoReturn

from hubsync import __version__
from hubsync.errors import EX_FAILURE, EX_USAGE, HubsyncError

EX_SIGPIPE = 128 + 13

# (name, module, one-line summary). Order is the order of `hubsync --help`.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("init", "init", "write a commented starter config"),
    ("check", "check", "validate the config offline (exit 78 when it is wrong)"),
    ("auth", "auth", "add, list, test, or remove the personal access key of an account"),
    ("push", "push", "push every change once and exit (for scripts and CI)"),
    ("watch", "watch", "push changes as you edit, in the foreground"),
    ("pull", "pull", "download the remote theme into the watch folder (like hs cms fetch)"),
    ("ls", "ls", "list remote files and folders (like hs ls)"),
    ("daemon", "daemon", "run the sync engine under a service manager (systemd)"),
    ("status", "status", "show what the running daemon or watch session is doing"),
    ("pause", "control", "pause pushing to one account or all"),
    ("resume", "control", "resume pushing after `hubsync pause`"),
    ("flush", "control", "push everything pending now and wait for it"),
    ("reload", "control", "make the running session re-read its config and keys"),
    ("deletes", "deletes", "show, release or discard deletes held by the safety brake"),
    ("conflicts", "conflicts", "list files a teammate changed remotely (not overwritten)"),
    ("resolve", "resolve", "settle a conflict: keep your local file or the remote one"),
    ("log", "log", "read or follow the attribution sync log"),
    ("service", "service", "install, uninstall, or inspect the systemd user service"),
    ("emulator", "emulator", "run the local HubSpot-compatible emulator"),
    ("demo", "demo", "see hubsync sync a sample theme to two emulated accounts"),
    ("doctor", "doctor", "check the whole set-up and say how to fix what is wrong"),
    ("completion", "completion", "print or install shell completion (bash, zsh, fish)"),
)

EPILOG = """\
examples:
  hubsync demo                      see it work against the built-in emulator
  hubsync init                      write ~/.config/hubsync/config.toml
  hubsync auth add sandbox --portal 12345678
  hubsync push                      push every watch once
  hubsync watch                     push as you edit
  hubsync pull                      download the remote theme (like hs cms fetch)
  hubsync log -f                    follow who pushed what
  hubsync service install           run it in the background (systemd user service)
  hubsync completion bash --install shell completion

Run `hubsync COMMAND --help` for the details of a command.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep our hand-wrapped descriptions and examples as written."""


def _command_module(module: str) -> ModuleType:
    return importlib.import_module(f"hubsync.commands.{module}")


def _add_loudness(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``-v/--verbose`` and ``-q/--quiet``, mutually exclusive."""
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v", "--verbose", action="store_true", default=default,
        help="also print diagnostics (token refreshes, retries, timings) on stderr",
    )
    loudness.add_argument(
        "-q", "--quiet", action="store_true", default=default,
        help="print only the summary and problems, not a line per file",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors (an unknown option, a missing argument, a bad
    choice) exiting 64 like every other usage error of hubsync, not argparse's 2.
    Subcommand parsers are made of the same class (``add_subparsers`` uses the parent's)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        """A value outside ``choices`` (a command, an action, ``--mode``) is answered
        like a watch or account name typo (``hubsync.commands.check_names``): the
        closest choice ("did you mean 'push'?", difflib's ratio >= 0.6) and the list."""
        if action.choices is None or value in action.choices:
            return
        names = [str(choice) for choice in action.choices]
        close = difflib.get_close_matches(str(value), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if isinstance(action, argparse._SubParsersAction):
            kind = str(action.metavar or action.dest or "command").lower()
            # No "argument COMMAND:" prefix: the sentence names what was typed.
            raise argparse.ArgumentError(
                None, f"{value!r}: no {kind} of that name{hint} (known {kind}s: "
                      f"{', '.join(names)}; `{self.prog} --help` says what each does)")
        raise argparse.ArgumentError(
            action, f"invalid choice: {value!r}{hint} (choose from {', '.join(names)})")


def build_parser() -> argparse.ArgumentParser:
    """The full parser. ``--config`` and ``--debug`` are global: no subcommand redefines them."""
    parser = _Parser(
        prog="hubsync",
        description=(
            "Keep a local HubSpot CMS theme in sync with one or more HubSpot accounts,\n"
            "each with its own personal access key, and log who pushed what."
        ),
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $HUBSYNC_CONFIG, else $XDG_CONFIG_HOME/hubsync/config.toml)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="debug logging, and a traceback on errors"
    )
    _add_loudness(parser, default=False)
    parser.add_argument("--version", action="version", version=f"hubsync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, module, summary in COMMANDS:
        mod = _command_module(module)
        doc = (mod.__doc__ or summary).strip()
        command_parser = sub.add_parser(
            name,
            help=summary,
            description=doc if module != "control" else summary,
            formatter_class=_Formatter,
        )
        mod.configure(command_parser, name)
        # `hubsync push -q` as well as `hubsync -q push`; SUPPRESS keeps the global value.
        _add_loudness(command_parser, default=argparse.SUPPRESS)
        command_parser.set_defaults(_module=module)
    return parser


@contextlib.contextmanager
def error_funnel(debug: bool) -> Iterator[list[int]]:
    """Turn our errors into one message on stderr and an exit code; tracebacks only with --debug.

    The yielded list receives the exit code (a one-element box, since a context manager
    cannot return a value).
    """
    box: list[int] = []
    try:
        yield box
    except HubsyncError as exc:
        if debug:
            traceback.print_exc()
        print(f"hubsync: error: {exc}", file=sys.stderr)
        box.append(exc.exit_code)
    except KeyboardInterrupt:
        print("hubsync: interrupted", file=sys.stderr)
        box.append(130)
    except BrokenPipeError:
        # The reader left before the command finished printing (`| head`): stop quietly,
        # with the shell's code for "killed by SIGPIPE".
        box.append(EX_SIGPIPE)
    except Exception as exc:  # the funnel is the one place that catches everything
        if debug:
            traceback.print_exc()
        else:
            print(
                f"hubsync: internal error: {type(exc).__name__}: {exc}\n"
                "run again with --debug for a traceback, and please report it",
                file=sys.stderr,
            )
        box.append(EX_FAILURE)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hubsync`` console script and ``python -m hubsync``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    with error_funnel(args.debug) as box:
        import logging

        from hubsync import logs
        from hubsync.console import install_pipe_safe_stdout

        install_pipe_safe_stdout()
        # The console is for people: diagnostics only at warning and above, unless asked.
        level = (logging.DEBUG if args.debug else logging.INFO if args.verbose
                 else logging.ERROR if args.quiet else logging.WARNING)
        # Off a terminal too, a person reads warnings: plain lines, JSON only with -v.
        mode: logs.LogMode = "auto" if args.verbose or args.debug else "human"
        logs.configure(debug=args.debug, level=level, mode=mode)
        box.append(_command_module(args._module).run(args))
    return box[0] if box else EX_FAILURE
