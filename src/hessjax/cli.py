"""Command-line interface: ``hessjax demo``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print(run_demo(seed=args.seed))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hessjax`` console script."""
    parser = argparse.ArgumentParser(
        prog="hessjax", description="Exact Hessians and standard errors you can trust."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit an example and show its exact Hessian")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated data")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
