"""python -m export build styles | python -m export train style --style-image P --name N (see --help)"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m export", description="Build, train and export Sfumato's models.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build shipped models from their sources")
    build.add_argument("what", choices=["styles"], help="styles: the style table and the arbitrary-style pair")
    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="what", required=True)
    from .train_style import add_arguments
    add_arguments(train_sub.add_parser("style", help="a new named style from a painting (CPU: minutes)"))
    args = parser.parse_args(argv)
    args.argv = argv[2:]

    from core.errors import SfumatoError
    try:
        if args.command == "build":
            from .build import build_styles
            build_styles()
        elif args.command == "train" and args.what == "style":
            from .train_style import train
            train(args)
    except SfumatoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
