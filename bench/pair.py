"""One benchmark on this hubsync and on another (e.g. 0.1), alternating rounds; medians, ratios.

    .venv/bin/python bench/pair.py NAME [ROUNDS] [OTHER_PYTHON]

NAME is a script of this folder (``latency``, ``bulk``, ``restart``, ``idle``,
``outage``); ROUNDS per side (default 3); OTHER_PYTHON the interpreter of the other
hubsync's venv (default ``/work/wt-v01/.venv/bin/python``, a ``git worktree`` at 0.1,
commit 9d038bf, with ``pip install -e .``). Rounds go new, old, old, new, new, old, ...
so a trend in the machine's load falls on both sides alike.

Scripts that run ``hubsync`` as a subprocess run here with ``HUBSYNC_PYTHON`` set to
OTHER_PYTHON: one emulator (this tree's), only the engine differs. ``bulk`` drives the
engine in-process, so it runs whole under OTHER_PYTHON, with that tree's emulator.
Every script's ``RESULT {json}`` line is collected; the per-round figures, the load
average at the end of each round, the medians and the ratio new / old are printed.
Environment variables of the scripts (``IDLE_SECONDS``, ``OUTAGE_QUICK``, ...) pass on.

Example, the restart pair on 3 rounds each::

    .venv/bin/python bench/pair.py restart 3
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OTHER = "/work/wt-v01/.venv/bin/python"
IN_PROCESS = {"bulk"}
"""Scripts that import the engine themselves (run under the other interpreter)."""


def run_once(name: str, side: str, other: str) -> dict[str, float]:
    """Run ``bench/NAME.py`` for ``side`` ("new" or "old"); its RESULT figures."""
    script = HERE / f"{name}.py"
    environment = dict(os.environ)
    interpreter = sys.executable
    if side == "old":
        if name in IN_PROCESS:
            interpreter = other
        else:
            environment["HUBSYNC_PYTHON"] = other
    process = subprocess.run([interpreter, str(script)], env=environment, cwd=HERE.parent,
                             capture_output=True, text=True, check=False)
    for line in process.stdout.splitlines():
        if not line.startswith("RESULT "):
            print(f"    [{side}] {line}", flush=True)
    if process.returncode != 0:
        raise SystemExit(f"{name} ({side}) failed with exit {process.returncode}:\n"
                         f"{process.stdout[-2000:]}\n{process.stderr[-4000:]}")
    found = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if not found:
        raise SystemExit(f"{name} ({side}) printed no RESULT line")
    figures: dict[str, float] = json.loads(found[-1].removeprefix("RESULT "))
    return figures


def order(rounds: int) -> list[str]:
    """new, old, old, new, new, old, ... (``rounds`` of each)."""
    pattern = ["new", "old", "old", "new"]
    return [pattern[i % 4] for i in range(2 * rounds)]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0 if len(sys.argv) >= 2 else 2)
    name = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    other = sys.argv[3] if len(sys.argv) > 3 else DEFAULT_OTHER
    if not (HERE / f"{name}.py").is_file():
        raise SystemExit(f"no benchmark bench/{name}.py")
    if not Path(other).is_file():
        raise SystemExit(f"{other}: no such interpreter; make a worktree at 9d038bf with "
                         "its own venv, or pass its python as the third argument")
    results: dict[str, list[dict[str, float]]] = {"new": [], "old": []}
    for i, side in enumerate(order(rounds), 1):
        print(f"round {i}: {side}", flush=True)
        figures = run_once(name, side, other)
        print(f"  {side}: {json.dumps(figures)}", flush=True)
        results[side].append(figures)
    print(f"\n{name}: medians of {rounds} rounds each (load1 = load average after each round)")
    keys = dict.fromkeys(k for side in results.values() for r in side for k in r)
    for key in keys:
        new = [float(r[key]) for r in results["new"] if key in r]
        old = [float(r[key]) for r in results["old"] if key in r]
        if not new or not old:
            continue
        new_m, old_m = statistics.median(new), statistics.median(old)
        ratio = f"{new_m / old_m:.2f}" if old_m else "-"
        print(f"  {key:16} new {new_m:10.3f} {new}  old {old_m:10.3f} {old}  new/old {ratio}")


if __name__ == "__main__":
    main()
