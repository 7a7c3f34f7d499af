"""python -m sfumato.export build styles | python -m sfumato.export train style --style-image P --name N (see --help)"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m sfumato.export", description="Build, train and export Sfumato's models.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build shipped models from their sources")
    build.add_argument("what", choices=["styles", "inpaint", "fp16", "thumbs"],
                       help="styles: the style table and the arbitrary-style pair; inpaint: the inpainting model "
                            "from its training checkpoint (each with its fp16 variant for CUDA); fp16: only the "
                            "fp16 variants, from the fp32 models there are; thumbs: the GIMP style picker's "
                            "thumbnails of the style table")
    build.add_argument("--checkpoint", help="inpaint: the training checkpoint to export (default: the shipped one)")
    build.add_argument("--models-dir", help="write the model and its manifest entry here instead of core/models")
    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="what", required=True)
    from . import train_inpaint, train_style
    train_style.add_arguments(train_sub.add_parser("style", help="a new named style from a painting (CPU: minutes)"))
    train_inpaint.add_arguments(train_sub.add_parser("inpaint", help="the inpainting model (resumable; hours)"))
    prepare = sub.add_parser("prepare", help="prepare training data")
    prepare.add_argument("what", choices=["inpaint-data"])
    args = parser.parse_args(argv)
    args.argv = argv[2:]

    from sfumato.errors import SfumatoError
    try:
        if args.command == "build" and args.what == "styles":
            from .build import build_styles
            build_styles()
        elif args.command == "build" and args.what == "thumbs":
            from .style_thumbs import build_thumbs
            print(f"wrote {len(build_thumbs())} thumbnails")
        elif args.command == "build" and args.what == "fp16":
            from .build import MODELS_DIR
            from .fp16 import build_fp16
            build_fp16(Path(args.models_dir) if args.models_dir else MODELS_DIR)
        elif args.command == "build":
            from .build import MODELS_DIR, build_inpaint
            build_inpaint(Path(args.models_dir) if args.models_dir else MODELS_DIR, args.checkpoint)
        elif args.command == "train" and args.what == "style":
            train_style.train(args)
        elif args.command == "train":
            train_inpaint.train(args)
        elif args.command == "prepare":
            from .prepare_data import prepare
            prepare()
    except SfumatoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
