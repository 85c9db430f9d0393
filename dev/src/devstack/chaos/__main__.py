"""``python -m devstack.chaos`` (``make chaos``): SIGKILL each service of the local stack at a
random point, kill -9 the broker and PostgreSQL (the stack's supervisor restarts them), while
files of every format flow; print per fault what went in, what was stored, lost, duplicated
and dead-lettered, and how long recovery took. Exit 1 when anything was lost or duplicated or a
fault was not recovered from. Uses the stack running in DEVSTACK_VAR, or starts one."""

from __future__ import annotations

import argparse
import sys

from devstack.chaos.counting import table
from devstack.chaos.run import ALL_FAULTS, Options, OwnStack, run_faults
from devstack.procs import StackError
from devstack.settings import SettingsError, StackSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.chaos", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--faults",
        default=",".join(ALL_FAULTS),
        help=f"comma-separated, in order (default: {','.join(ALL_FAULTS)})",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the faults (default 1)")
    parser.add_argument("--seed", type=int, default=14, help="of the random kill points")
    parser.add_argument(
        "--after-recovery",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds files keep flowing after each recovery (default 5)",
    )
    parser.add_argument(
        "--kill-within",
        type=float,
        default=6.0,
        metavar="S",
        help="each kill comes at a random point 1..S seconds into its phase (default 6)",
    )
    parser.add_argument(
        "--recovery-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="a fault not recovered from within S seconds fails the run (default 300)",
    )
    args = parser.parse_args(argv)
    faults = [name for name in args.faults.split(",") if name]
    unknown = sorted(set(faults) - set(ALL_FAULTS))
    if unknown:
        parser.error(f"unknown fault {', '.join(unknown)}; known: {', '.join(ALL_FAULTS)}")
    options = Options(
        faults=faults,
        rounds=args.rounds,
        seed=args.seed,
        after_recovery_s=args.after_recovery,
        before_kill_s=(1.0, max(1.0, args.kill_within)),
        recovery_timeout_s=args.recovery_timeout,
    )
    try:
        settings = StackSettings.from_env()
        with OwnStack(settings):
            tallies = run_faults(settings, options, lambda line: print(line, flush=True))
    except (StackError, SettingsError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 1
    print(table(tallies), flush=True)
    failed = [t.fault for t in tallies if not t.ok]
    if failed or len(tallies) < len(faults) * args.rounds:
        print(f"chaos: FAILED: {', '.join(failed) or 'not every fault ran'}", flush=True)
        return 1
    print("chaos: nothing lost, nothing duplicated", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
