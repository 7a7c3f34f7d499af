"""Train the inpainting model: `python -m export train inpaint [--resume] [--minutes M] [--device cuda]`.

Resumable and deterministic given --seed: the checkpoint (decoder weights, optimizer, RNG states,
step, elapsed time) is small enough to commit (export/checkpoints/inpaint.pt), so long training
can stop and continue in a later session. Photos: `python -m export prepare inpaint-data` (never
the Kodak set). Masks of every kind users make: thin strokes, blobs, large boxes, silhouettes.
`python -m export build inpaint` exports the checkpoint to core/models.
"""
from __future__ import annotations

import argparse
import math
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from core.inpaint_models import harmonic_fill

from . import source
from .nets.efficientnet_lite import EfficientNetLite0Features
from .nets.inpaint_net import InpaintNet

CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "inpaint.pt"
DATA = source.CACHE / "inpaint-photos"
HOLDOUT = source.CACHE / "inpaint-holdout"  # never trained on
MASK_KINDS = ("strokes", "blobs", "box", "object")


# --- masks --------------------------------------------------------------------------------------

def random_mask(size: int, rng: random.Random, kind: str | None = None) -> np.ndarray:
    """A hole mask (True = hole) like the ones users draw: strokes ~3%, blobs ~10%, box ~25%, object ~17%."""
    kind = kind or rng.choice(MASK_KINDS)
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    s = size
    if kind == "strokes":
        for _ in range(rng.randint(1, 4)):
            pts = [(rng.uniform(0, s), rng.uniform(0, s))]
            for _ in range(rng.randint(2, 6)):
                a = rng.uniform(0, 2 * math.pi)
                r = rng.uniform(0.05, 0.25) * s
                pts.append((pts[-1][0] + r * math.cos(a), pts[-1][1] + r * math.sin(a)))
            d.line(pts, fill=255, width=max(2, int(rng.uniform(0.01, 0.035) * s)), joint="curve")
    elif kind == "blobs":
        for _ in range(rng.randint(1, 4)):
            cx, cy, r = rng.uniform(0.15, 0.85) * s, rng.uniform(0.15, 0.85) * s, rng.uniform(0.05, 0.14) * s
            d.ellipse([cx - r, cy - r * rng.uniform(0.6, 1.4), cx + r, cy + r * rng.uniform(0.6, 1.4)], fill=255)
    elif kind == "box":
        w, h = rng.uniform(0.35, 0.65) * s, rng.uniform(0.35, 0.65) * s
        x, y = rng.uniform(0, s - w), rng.uniform(0, s - h)
        d.rectangle([x, y, x + w, y + h], fill=255)
    else:  # object silhouette: a body and limbs
        cx, cy = rng.uniform(0.3, 0.7) * s, rng.uniform(0.3, 0.7) * s
        d.ellipse([cx - 0.12 * s, cy - 0.2 * s, cx + 0.12 * s, cy + 0.2 * s], fill=255)
        d.ellipse([cx - 0.07 * s, cy - 0.32 * s, cx + 0.07 * s, cy - 0.18 * s], fill=255)
        for _ in range(rng.randint(2, 4)):
            a = rng.uniform(0, 2 * math.pi)
            d.line([(cx, cy), (cx + 0.25 * s * math.cos(a), cy + 0.25 * s * math.sin(a))], fill=255,
                   width=int(0.05 * s))
    return np.asarray(img) > 127


# --- data ---------------------------------------------------------------------------------------

def list_photos(folders: list[Path]) -> list[Path]:
    files = sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = [p for p in files if "kodak" not in str(p).lower()]  # reserved for independent evaluation
    if not files:
        raise SystemExit(f"no photos in {folders}; run `python -m export prepare inpaint-data`")
    return files


class Batches:
    """Random multi-scale crops, flipped half the time; a share of them from surface textures
    (files under a `textures` folder), the rest from photographs. Kept as uint8 to hold thousands."""

    def __init__(self, files: list[Path], size: int, rng: random.Random, texture_share: float = 0.3):
        load = lambda p: np.asarray(Image.open(p).convert("RGB"))  # noqa: E731
        images = [(p, load(p)) for p in files]
        # an image smaller than one crop would have to be enlarged, i.e. blurred: left out at this size
        big = [(p, a) for p, a in images if min(a.shape[:2]) >= size]
        if len(big) < len(images):
            print(f"{len(images) - len(big)} images smaller than {size} px left out (crops are never enlarged)")
        if not big:
            raise SystemExit(f"no training image is at least {size} px on its short side; use a smaller --size")
        self.textures = [a for p, a in big if "textures" in p.parts]
        self.photos = [a for p, a in big if "textures" not in p.parts]
        self.texture_share = texture_share if self.textures and self.photos else float(not self.photos)
        self.size, self.rng = size, rng

    def crop(self) -> np.ndarray:
        pool = self.textures if self.rng.random() < self.texture_share else self.photos
        p = pool[self.rng.randrange(len(pool))]
        h, w = p.shape[:2]
        side = int(min(h, w) * self.rng.uniform(0.25, 1.0))
        side = max(side, self.size)  # never upscale: a blurred crop teaches blur
        y, x = self.rng.randrange(h - side + 1), self.rng.randrange(w - side + 1)
        c = np.asarray(Image.fromarray(p[y:y + side, x:x + side]).resize(
            (self.size, self.size), Image.BILINEAR), np.float32) / 255.0
        return c[:, ::-1].copy() if self.rng.random() < 0.5 else c

    def next(self, n: int):
        truths, priors, masks = [], [], []
        for _ in range(n):
            t = self.crop()
            m = random_mask(self.size, self.rng)
            truths.append(t)
            priors.append(harmonic_fill(t, ~m))
            masks.append(m)
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        return to(truths), to(priors), torch.from_numpy(np.stack(masks)[:, None].astype(np.float32))


# --- training -----------------------------------------------------------------------------------

def make_net() -> InpaintNet:
    net = InpaintNet()
    net.encoder.load_pretrained(source.efficientnet_lite0_state())
    return net


def trainable(net: InpaintNet) -> dict:
    return {k: v for k, v in net.state_dict().items() if not k.startswith("encoder.")}


def train(args) -> None:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    net = make_net().to(device)
    params = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.Adam(params, lr=args.lr)
    perceptual = EfficientNetLite0Features().load_pretrained(source.efficientnet_lite0_state()).to(device)
    step, elapsed, history = 0, 0.0, []
    ckpt_path = Path(args.checkpoint)
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        net.load_state_dict(ck["decoder"], strict=False)
        opt.load_state_dict(ck["optimizer"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck["history"]
        rng.setstate(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        for group in opt.param_groups:  # the learning rate asked for now, not the saved one
            group["lr"] = args.lr
        print(f"resumed at step {step} ({elapsed / 60:.1f} min trained)", flush=True)
    data = Batches(list_photos([Path(p) for p in args.photos]), args.size, rng, args.texture_share)
    net.encoder.eval()
    t0, first_step = time.perf_counter(), step
    deadline = t0 + args.minutes * 60 if args.minutes else None
    last_save = t0

    def save():
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"decoder": trainable(net), "optimizer": opt.state_dict(), "step": step,
                    "elapsed": elapsed + time.perf_counter() - t0, "history": history[-2000:], "rng": rng.getstate(),
                    "torch_rng": torch.get_rng_state(), "seed": args.seed, "size": args.size, "batch": args.batch,
                    "data": {"photos": len(data.photos), "textures": len(data.textures)}}, tmp)
        tmp.replace(ckpt_path)

    # Ctrl-C or `kill` ends the run after the current step, with a checkpoint: nothing is lost
    stop_requested = []
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.append(True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while step < args.steps and (deadline is None or time.perf_counter() < deadline) and not stop_requested:
            truth, prior, mask = (t.to(device) for t in data.next(args.batch))
            out = net(prior, mask)
            hole_l1 = (mask * (out - truth).abs()).sum() / (mask.sum() * 3 + 1)
            feats_o, feats_t = perceptual(out), perceptual(truth)
            perc = sum(F.l1_loss(a, b) for a, b in zip(feats_o[:3], feats_t[:3])) / 3
            loss = hole_l1 + args.perceptual * perc
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            history.append((step, hole_l1.item(), perc.item()))
            if step % 20 == 0:
                recent = np.mean([h[1] for h in history[-20:]])
                print(f"step {step}: hole L1 {recent:.4f}, perceptual {history[-1][2]:.3f}, "
                      f"{(time.perf_counter() - t0) / max(1, step - first_step):.2f}s/step", flush=True)
            if time.perf_counter() - last_save > args.save_minutes * 60:
                save()
                last_save = time.perf_counter()
        save()
    finally:  # the caller's handlers back, even when a step fails
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"stopped at step {step}; checkpoint {ckpt_path}", flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--photos", nargs="+", default=[str(DATA)])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--minutes", type=float, default=0, help="stop after this long (0 = no limit)")
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--texture-share", type=float, default=0.3, help="share of crops taken from surface textures")
    p.add_argument("--perceptual", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--checkpoint", default=str(CHECKPOINT))
    p.add_argument("--save-minutes", type=float, default=5)
    p.add_argument("--resume", action="store_true")
