"""python -m export build styles | train style ... (see --help)"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description="Build, train and export Sfumato's models.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build shipped models from their sources")
    build.add_argument("what", choices=["styles"], help="styles: the 26-style net and the arbitrary-style pair")
    args = parser.parse_args(argv)
    if args.command == "build" and args.what == "styles":
        from .build import build_styles
        build_styles()
    return 0


if __name__ == "__main__":
    sys.exit(main())
