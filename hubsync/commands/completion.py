"""Print or install shell completion for bash, zsh or fish.

The script is generated from hubsync's own argument parser by shtab, so it knows every
command, option and choice of this version. Without --install it is printed (eval it,
or save it where your shell looks); --install writes it to the user folder that shell
loads completions from and says what, if anything, is left to do:

  bash  $XDG_DATA_HOME/bash-completion/completions/hubsync   (bash-completion's user dir)
  zsh   $XDG_DATA_HOME/zsh/site-functions/_hubsync            (add that folder to fpath)
  fish  $XDG_CONFIG_HOME/fish/completions/hubsync.fish        (fish loads it by itself)

examples:
  hubsync completion bash --install
  hubsync completion zsh > "${fpath[1]}/_hubsync"
  eval "$(hubsync completion bash)"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hubsync.errors import EX_OK

SHELLS = ("bash", "zsh", "fish")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.add_argument("--install", action="store_true",
                        help="write the script where the shell loads user completions")


def install_path(shell: str) -> Path:
    """Where ``--install`` writes the script for ``shell``.

    bash: bash-completion's per-user folder (its README: ``$BASH_COMPLETION_USER_DIR``,
    else ``$XDG_DATA_HOME/bash-completion/completions``); fish: the ``completions``
    folder under its config dir, loaded on demand (fish's "Writing your own
    completions"); zsh has no per-user default, so a folder the user adds to ``fpath``.
    """
    import os

    from hubsync.config import xdg_dir

    if shell == "bash":
        user_dir = os.environ.get("BASH_COMPLETION_USER_DIR")
        base = Path(user_dir) if user_dir else xdg_dir("XDG_DATA_HOME", ".local/share") / \
            "bash-completion"
        return base / "completions" / "hubsync"
    if shell == "zsh":
        return xdg_dir("XDG_DATA_HOME", ".local/share") / "zsh" / "site-functions" / "_hubsync"
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "fish" / "completions" / "hubsync.fish"


def script(shell: str) -> str:
    """The completion script for ``shell``, generated from the full parser."""
    import shtab

    from hubsync.cli import build_parser

    text: str = shtab.complete(build_parser(), shell=shell)
    return text if text.endswith("\n") else text + "\n"


def run(args: argparse.Namespace) -> int:
    from hubsync.config import write_atomically

    text = script(args.shell)
    if not args.install:
        print(text, end="")
        return EX_OK
    path = install_path(args.shell)
    write_atomically(path, text)
    print(f"wrote {path}")
    if args.shell == "zsh":
        print("add this to ~/.zshrc before `compinit`, then open a new shell:\n"
              f"  fpath=({path.parent} $fpath)")
    elif args.shell == "bash":
        print("open a new shell (bash-completion loads it on first use of `hubsync`)")
    else:
        print("open a new shell, or run: source " + str(path))
    return EX_OK
