"""The `sfumato` command. Every expected failure is one `error: ...` line on stderr and exit code 2;
outputs are written to a temporary name and renamed, so a failed run leaves nothing behind."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from .errors import SfumatoError
from .options import (DEVICE, GPU_SHARE_PER_ACTOR, SERVER_MAX_BODY_MB, SERVER_MAX_PER_CLIENT, SERVER_MAX_QUEUE,
                      option)
from .runtime import manifest, sessions

# numpy, Pillow and onnxruntime load inside the commands that need them: `sfumato --help` stays instant


def read_image(*args, **kwargs):
    from .imageio import read_image
    return read_image(*args, **kwargs)


def write_image(*args, **kwargs):
    from .imageio import write_image
    return write_image(*args, **kwargs)


def _number_arg(option):
    """An option's parser: its type, then the schema's range check, in the words the worker and the
    server use for the same value."""
    kind = option.type

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if kind is float and value != value:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number")
        try:
            option.check(value)
        except SfumatoError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    return parse


def _schema_argument(p, o) -> None:
    """One schema option (core/options.py) as a flag: its name, type, range, default and help."""
    if o.type is bool:
        assert o.default is False, o  # a flag that switches on
        p.add_argument(o.flag, action="store_true", help=o.help)
    elif o.type is str:
        default = "" if o.default is None else f" (default {o.default})"
        p.add_argument(o.flag, choices=o.choices, default=o.default, help=o.help + default)
    else:
        kind = _number_arg(o) if o.range else o.type
        p.add_argument(o.flag, type=kind, default=o.default, help=f"{o.help} (default {o.default:g})")


def _schema_arguments(p: argparse.ArgumentParser, operation: str, skip: tuple = ()) -> None:
    """The operation's options, as the schema in core/options.py states them: the CLI is one of its doors."""
    from .options import SCHEMA
    for o in SCHEMA[operation]:
        if o.name not in skip:
            _schema_argument(p, o)


def _batch_arguments(p: argparse.ArgumentParser) -> None:
    from .batch.runner import FORMATS  # standard library only: the parser stays light
    p.add_argument("--format", choices=FORMATS,
                   help="output format for a folder of outputs (default png)")
    p.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist (resume a batch)")
    p.add_argument("--suffix", metavar="TEXT",
                   help="added to each output's name after the input's (write it --suffix=-x when it starts with "
                        "-). Default: none when -o is another folder; _stylized / _filled when the outputs land "
                        "beside the inputs (no -o, or -o the inputs' own folder), so an original is never replaced")
    p.add_argument("--overwrite", action="store_true",
                   help="allow an output to replace one of the run's own inputs (refused without it)")
    p.add_argument("--jobs", type=int, default=1, help="processes working at once, each with its share of the cores")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the batch on Ray Data: alone a Ray started here, or a cluster (auto, ray://HOST:10001); "
                        "--jobs is then the number of actors (default: one per core); needs sfumato[ray]")
    p.add_argument("--gpus-per-job", type=float, default=0.0,
                   help=f"with --ray and --device cuda: the share of a GPU each actor reserves "
                        f"(default {GPU_SHARE_PER_ACTOR:g})")
    p.add_argument("--server", metavar="URL", help="run on a `sfumato serve` server (e.g. http://gpu-box:8765) "
                                                   "instead of here; same options, same result")
    p.add_argument("--token-file", type=Path, help="the server's token (default: $SFUMATO_TOKEN, or the token a "
                                                   "server on this machine keeps)")


class _Version(argparse.Action):
    """--version: the package's version, looked up only when asked for (sfumato.package_version)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__
        print(f"sfumato {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sfumato", description="Neural style transfer and inpainting, offline.")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stylize", help="repaint an image in a painting's style")
    s.add_argument("input", type=Path, nargs="+", help="image files, folders or globs")
    s.add_argument("-o", "--output", type=Path,
                   help="output file; with several inputs a folder, created if missing (default: INPUT_stylized.png)")
    g = s.add_mutually_exclusive_group(required=True)
    _schema_argument(g, option("stylize", "style"))
    g.add_argument("--style-image", type=Path, help="any picture to use as the style")
    _schema_arguments(s, "stylize", skip=("style",))
    s.add_argument("--mask", type=Path, help="greyscale mask, white = stylize, grey = partial")
    _batch_arguments(s)

    ip = sub.add_parser("inpaint", help="fill the masked part of an image with plausible content")
    ip.add_argument("input", type=Path, nargs="+", help="image files, folders or globs")
    masks = ip.add_mutually_exclusive_group(required=True)
    masks.add_argument("--mask", type=Path, help="greyscale mask, white = fill, grey = partial blend")
    masks.add_argument("--mask-dir", type=Path,
                       help="a folder of masks: photo a.jpg is filled where MASK_DIR/a.png is white")
    ip.add_argument("--sample-from", type=Path, metavar="AREA",
                    help="greyscale image the photo's size, white = where a large hole's texture may be copied "
                         "from (Content-Aware Fill's sampling area); one area for every input. Thin holes ignore it")
    ip.add_argument("-o", "--output", type=Path,
                    help="output file; with several inputs a folder, created if missing (default: INPUT_filled.png)")
    _schema_arguments(ip, "inpaint")
    _batch_arguments(ip)

    st = sub.add_parser("styles", help="list the built-in styles")
    st.add_argument("--sheet", type=Path, help="write a contact sheet of every style on one photo")
    st.add_argument("--photo", type=Path, help="photo for the sheet (default: the bundled sample)")
    _schema_argument(st, DEVICE)

    m = sub.add_parser("models", help="list installed models, or add your own (`models add FILE`)")
    m.add_argument("--verify", action="store_true", help="re-hash every model file against the manifest")
    msub = m.add_subparsers(dest="models_action")
    add = msub.add_parser("add", help="register an inpainting ONNX model you already have")
    add.add_argument("file", type=Path, help="the .onnx file")
    add.add_argument("--convention", choices=["lama", "migan"], required=True,
                     help="whose export it is: its inputs' names, range and padding")
    add.add_argument("--name", help="model name (default: the file's name)")
    add.add_argument("--licence", default="unknown (user supplied)", help="the model's licence, shown by `sfumato models`")

    sub.add_parser("doctor", help="versions, providers, and whether CUDA really works")

    sv = sub.add_parser("serve", help="serve the models over HTTP on Ray Serve, for many users (needs sfumato[serve])")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    sv.add_argument("--token-file", type=Path,
                    help="file holding the token clients must send (required off loopback; default on loopback: "
                         "one made once in the user folder)")
    _schema_argument(sv, DEVICE)
    sv.add_argument("--replicas", type=int, default=1,
                    help="copies of the models serving at once (default 1: the fastest for one user; for many "
                         "users on a small CPU box, 2 with --threads 1 each: see docs/server.md)")
    sv.add_argument("--threads", type=int, default=0, help="onnxruntime threads per replica (default: all cores)")
    sv.add_argument("--gpus-per-replica", type=float, default=0.0,
                    help="fraction of a GPU each replica reserves (default with --device cuda: 1/replicas)")
    sv.add_argument("--address", help="join this Ray cluster (auto, ray://HOST:10001) instead of starting one")
    sv.add_argument("--max-queue", type=int, default=SERVER_MAX_QUEUE,
                    help=f"jobs a replica holds before answering 503 (default {SERVER_MAX_QUEUE})")
    sv.add_argument("--max-per-client", type=int, default=SERVER_MAX_PER_CLIENT,
                    help=f"of those, from one client address (default {SERVER_MAX_PER_CLIENT})")
    sv.add_argument("--max-body-mb", type=int, default=SERVER_MAX_BODY_MB,
                    help=f"request size limit in MB (default {SERVER_MAX_BODY_MB})")

    gp = sub.add_parser("gimp", help="install, remove or check the GIMP 3 plug-in")
    gp.add_argument("action", choices=["install", "uninstall", "status"],
                    help="install: copy the plug-in into GIMP 3's profiles; uninstall: remove it; status: where it is")
    gp.add_argument("--gimp-dir", type=Path, help="a GIMP 3 profile folder (default: every one found)")
    gp.add_argument("--server", metavar="URL", help="install: send the plug-in's jobs to this `sfumato serve` "
                                                    "instead of a local worker")
    gp.add_argument("--token-file", type=Path, help="install --server: the server's token")
    gp.add_argument("--resident", action="store_true",
                    help="removed: resident mode is gone (in GIMP 3.0 its filters left the menus after a "
                         "Cancel); install refuses it and says why. Each call is its own process; the worker "
                         "stays warm")
    return p


def _remote(a):
    """The server client of --server, or None to run here."""
    if not a.server:
        return None
    from .service.remote import Remote, client_token
    return Remote(a.server, client_token(a.token_file))


def _gpus(a, options) -> float:
    """GPU share per Ray actor: only for CUDA runs (four warm actors per GPU unless told)."""
    return (a.gpus_per_job or GPU_SHARE_PER_ACTOR) if a.ray and options.device == "cuda" else 0.0


def cmd_stylize(a) -> int:
    from .batch import files, runner
    from .options import check_stylize_options, options_from
    from .styling.styles import parse_style
    options = options_from("stylize", a, style_image=read_image(a.style_image, "style image") if a.style_image else None)
    check_stylize_options(options)
    remote = _remote(a)
    model = None
    if options.style_image is None and remote is None:
        model, _ = parse_style(options.style)  # an unknown style stops here, before the first file
    from .batch.video import is_video
    if len(a.input) == 1 and is_video(a.input[0]):
        if remote is not None:
            raise SfumatoError("--server runs pictures; stylize a video here (without --server)")
        return _stylize_video(a, options)
    tasks, many = runner.plan(a.input, a.output, "stylized", a.format, mask=a.mask, suffix=a.suffix,
                              overwrite=a.overwrite, also_read=(a.style_image,) if a.style_image else ())
    in_flight = runner.files_in_flight(many and remote is None and not a.ray, a.jobs)
    # one file: its network's session (onnxruntime's import and the session, ~0.05 s) starts on a thread
    # while the photo is read
    single = model is not None and not many and a.jobs <= 1 and not a.ray
    ready = _in_background(_load_session, model, options.device) if single else None
    return runner.run(tasks, files.StylizeFile(options, remote, ready), a.jobs, a.skip_existing, many, a.ray,
                      _gpus(a, options), in_flight)


def _load_session(model: str, device: str) -> None:
    from .runtime.sessions import session
    session(model, device)


def _stylize_video(a, options) -> int:
    import time

    from tqdm import tqdm

    from .batch.video import is_video, stylize_video
    from .batch.runner import refuse_overwriting
    src = a.input[0]
    dst = a.output or src.with_name(f"{src.stem}{'_stylized' if a.suffix is None else a.suffix}{src.suffix}")
    if a.mask:
        raise SfumatoError("--mask is for pictures; a video is stylized whole")
    if dst.is_dir():  # named as a folder batch names its outputs
        beside = dst.resolve() == src.resolve().parent
        dst = dst / f"{src.stem}{('_stylized' if beside else '') if a.suffix is None else a.suffix}{src.suffix}"
    if not a.overwrite:
        refuse_overwriting([dst], [src], batch=False)
    if not is_video(dst):
        raise SfumatoError(f"the output of a video must be a video too (.mp4, .mov, .mkv, .webm), not {dst.name!r}")
    t0 = time.perf_counter()
    with tqdm(unit="frame", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        def on_frame(done, total):
            bar.total = total or None
            bar.update(done - bar.n)
        frames = stylize_video(src, dst, options, on_frame=on_frame, ray=a.ray, actors=a.jobs if a.jobs > 1 else 0,
                               gpus_per_actor=_gpus(a, options))
    print(f"{src} -> {dst} ({frames} frames, {time.perf_counter() - t0:.1f}s)")
    return 0


def cmd_inpaint(a) -> int:
    from .batch import files, runner
    from .options import check_inpaint_options, options_from
    options = options_from("inpaint", a)
    check_inpaint_options(options)
    remote = _remote(a)
    tasks, many = runner.plan(a.input, a.output, "filled", a.format, mask=a.mask, mask_dir=a.mask_dir,
                              suffix=a.suffix, overwrite=a.overwrite,
                              also_read=(a.sample_from,) if a.sample_from else ())  # never written over
    in_flight = runner.files_in_flight(many and remote is None and not a.ray, a.jobs)  # before the session starts
    # the model loads (its imports and session: ~0.4 s) on a thread while, for a single file, the photo
    # is read; an unknown or broken model stops the run before the first file is written
    loading = None if remote else _in_background(_load_inpaint_model, options.model, options.device)
    if loading and (many or a.jobs > 1 or a.ray):  # a batch: every file (and worker) needs a good model
        loading()
        loading = None  # (and files.InpaintFile must stay picklable for the workers)
    return runner.run(tasks, files.InpaintFile(options, remote, loading, a.sample_from), a.jobs, a.skip_existing, many, a.ray,
                      _gpus(a, options), in_flight)


def _load_inpaint_model(name: str, device: str) -> None:
    from .inpainting.models import load  # numpy, scipy and onnxruntime: the import is most of the cost
    load(name, device)


def _in_background(fn, *args):
    """Start fn(*args) on a thread; returns a callable that waits for it and raises what it raised."""
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(1)
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)  # the thread ends when fn returns; nothing else is ever queued on it
    return future.result


def cmd_styles(a) -> int:
    from .styling.styles import style_table
    for s in style_table():
        print(f"{s['index']:3d}  {s['name']}" + (f"  ({s['source']})" if s.get("source") else ""))
    if a.sheet:
        from .batch.runner import refuse_overwriting
        from .styling.sheet import contact_sheet
        refuse_overwriting([a.sheet], [a.photo], batch=False, hint="_sheet")
        photo = read_image(a.photo or Path(__file__).parent / "samples" / "coffee.jpg", "photo")
        write_image(a.sheet, contact_sheet(photo, device=a.device))
        print(f"contact sheet -> {a.sheet}")
    return 0


def cmd_models(a) -> int:
    if a.models_action == "add":
        from .inpainting.user_models import add_user_model
        entry = add_user_model(a.file, a.convention, a.name, a.licence)
        from .hooks import models_changed
        models_changed()  # e.g. GIMP's Fill Selection dialog lists it from GIMP's next start
        print(f"added {entry['name']} ({a.convention}, {entry['bytes'] / 1e6:.1f} MB) to {manifest.user_dir() / 'models'}; "
              f"use it with `sfumato inpaint ... --model {entry['name']}`")
        return 0
    failed = []
    print(f"{'name':25s} {'task':13s} {'size':>9s}  {'licence':12s} sha256")
    models = [m for model in manifest.all_models().values() for m in (model, manifest.variant(model, "fp16")) if m]
    for model in models:  # each with its fp16 variant for CUDA, where one is built
        name, e = model.name, model.entry
        status = ""
        if a.verify:
            manifest.forget_verified()
            try:
                manifest.verify(model)
                status = "  verified"
            except SfumatoError as exc:
                failed.append(str(exc))
                status = "  FAILED"
        print(f"{name:25s} {e['task']:13s} {e['bytes'] / 1e6:6.2f} MB  {e['licence']:12s} {e['sha256']}{status}")
    if failed:
        raise SfumatoError(failed[0] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    return 0


def cmd_doctor(a) -> int:
    import platform

    import numpy as np
    import onnxruntime as ort
    import PIL

    from . import __version__
    print(f"sfumato {__version__}, Python {platform.python_version()} on {platform.platform()}")
    print(f"numpy {np.__version__}, pillow {PIL.__version__}, onnxruntime {ort.__version__} ({ort.get_device()})")
    print(f"providers available: {', '.join(ort.get_available_providers())}")
    works, why = sessions.cuda_status()
    print(f"CUDA: {'yes' if works else 'no'} - {why}")
    if not works:
        print(f"  to use a GPU: {sessions.CUDA_HELP}")
    graphs = manifest.user_dir() / "cache" / "graphs"
    print(f"models: {len(manifest.all_models())} installed; user models in {manifest.user_dir() / 'models'}")
    print(f"optimised graphs (CPU sessions start from these): {len(list(graphs.glob('*.onnx'))) if graphs.exists() else 0} "
          f"cached in {graphs}")
    halves = [n for n, m in sorted(manifest.all_models().items()) if manifest.variant(m, "fp16")]
    print(f"CUDA path: {sessions.precision()} graphs (SFUMATO_PRECISION=fp16 runs the fp16 variants of "
          f"{', '.join(halves) or 'none'}: built and parity-checked, not yet timed on a GPU); inputs and outputs "
          "cross to the device once per network call (no IO binding: tiling, colour and paste-back run on the CPU)")
    return 0


def cmd_serve(a) -> int:
    try:
        from .service.serve import run_server
    except ImportError as exc:
        raise SfumatoError(f"serving needs Ray Serve ({exc.name} is missing): pip install \"sfumato[serve]\"") from None
    if a.replicas < 1 or a.max_queue < 1 or a.max_per_client < 1 or a.max_body_mb < 1:
        raise SfumatoError("--replicas, --max-queue, --max-per-client and --max-body-mb must be at least 1")
    run_server(a.host, a.port, a.token_file, a.device, a.replicas, a.threads, a.gpus_per_replica, a.address,
               a.max_queue, a.max_per_client, a.max_body_mb)
    return 0


def cmd_gimp(a) -> int:
    from .hooks import hook
    gimp_main = hook("gimp-command")
    if gimp_main is None:
        raise SfumatoError("the GIMP plug-in's installer is not installed with this package; reinstall sfumato")
    token = None
    if (a.server or a.resident) and a.action != "install":
        raise SfumatoError("--server and --resident are for `sfumato gimp install`")
    if a.server:
        from .service.remote import client_token
        token = client_token(a.token_file)
    return gimp_main(a.action, a.gimp_dir, a.server, token, a.resident)


COMMANDS = {"stylize": cmd_stylize, "inpaint": cmd_inpaint, "styles": cmd_styles, "models": cmd_models,
            "doctor": cmd_doctor, "serve": cmd_serve, "gimp": cmd_gimp}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .atomic import ensure_cache_home
    ensure_cache_home()  # before onnxruntime loads: no warning where HOME cannot be written
    try:
        return COMMANDS[args.command](args)
    except SfumatoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sfumato styles | head`: the reader has all it wanted; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail again
        return 0
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        name = str(exc.filename or "")
        print(f"error: a file name is too long ({name[:60] + '...' if len(name) > 60 else name}): over the 255 "
              "bytes a name may have; use a shorter -o name or --suffix", file=sys.stderr)
        return 2


def run() -> None:
    """The console command: main(), then exit without Python's module teardown, which costs ~0.1 s
    once numpy, scipy and onnxruntime are loaded and does nothing for us: every output is written,
    closed and renamed by then. With Ray loaded, the normal exit: its exit handler stops the local
    cluster it started."""
    code = main()
    if "ray" in sys.modules or "multiprocessing.pool" in sys.modules:  # --jobs: the normal exit unlinks
        sys.exit(code)  # the pool's semaphores (an os._exit after Ctrl-C leaves them to a warning)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
