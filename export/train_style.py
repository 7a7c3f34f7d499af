"""Train a new style from any painting: `python -m sfumato.export train style --style-image P --name N`.

Following Dumoulin et al., a conditional-instance-norm network learns a new style by training only
that style's normalisation parameters (one gamma/beta row per norm layer, 990 numbers) with the
convolutions frozen, so it fits a 2-core CPU. `--full` also trains the convolutions (a GPU job), and
then the result is a model of its own, since changing shared convolutions would change every style.

Losses (Johnson et al.): content = feature MSE at one layer, style = Gram-matrix MSE at four
layers, on a frozen ImageNet network (EfficientNet-Lite0, default) or Magenta's MobileNetV2 style
predictor. Resumable (checkpoint every --save-every steps) and seeded.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sfumato import atomic
from sfumato.errors import SfumatoError
from sfumato.imageio import read_image

from . import importers, source
from .nets.efficientnet_lite import EfficientNetLite0Features
from .nets.norm import stats_size
from .style_table import (SHIPPED_STYLES, TABLE, assemble, build_table, existing_names, export_single_style,
                          save_row, user_styles_dir)

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


# --- loss networks ------------------------------------------------------------------------------

class MobileNetFeatures(torch.nn.Module):
    """Magenta's style predictor (MobileNetV2) cut after the blocks ending at 1/2 .. 1/16 resolution."""

    TAPS = (1, 3, 6, 10)

    def __init__(self):
        super().__init__()
        self.features = importers.import_predictor(source.load_original("arbitrary_predict")).features
        self.requires_grad_(False).eval()

    def forward(self, x):  # NCHW 0..1 (the predictor's own input range)
        feats = []
        for i, block in enumerate(self.features[:max(self.TAPS) + 1]):
            x = block(x)
            if i in self.TAPS:
                feats.append(x)
        return feats


def loss_network(name: str) -> torch.nn.Module:
    if name == "efficientnet":
        return EfficientNetLite0Features().load_pretrained(source.efficientnet_lite0_state())
    return MobileNetFeatures()


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class StyleLoss:
    """Weighted content + style loss against one painting; layer 2 carries the content."""

    def __init__(self, features: torch.nn.Module, painting: torch.Tensor, style_weight: float, content_weight: float):
        self.features = features
        with torch.no_grad():
            self.target_grams = [gram(f) for f in features(painting)]
        self.style_weight, self.content_weight = style_weight, content_weight

    def __call__(self, output: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_f = self.features(output)
        with torch.no_grad():
            content_f = self.features(content)[2]
        style = sum(F.mse_loss(gram(f), g.expand(f.shape[0], -1, -1)) / g.pow(2).mean()
                    for f, g in zip(out_f, self.target_grams))
        content_loss = F.mse_loss(out_f[2], content_f) / content_f.pow(2).mean()
        return self.style_weight * style, self.content_weight * content_loss


# --- data ---------------------------------------------------------------------------------------

def to_tensor(img: np.ndarray) -> torch.Tensor:
    from sfumato.pixels import split_channels, to_float
    return torch.from_numpy(np.ascontiguousarray(to_float(split_channels(img)[0]).transpose(2, 0, 1)))


def load_photos(folder: Path) -> list[torch.Tensor]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        raise SfumatoError(f"no photos (.jpg/.png/.webp) in {folder}")
    return [to_tensor(read_image(p, "content photo")) for p in files]


def random_crops(photos: list[torch.Tensor], n: int, size: int, rng: random.Random) -> torch.Tensor:
    """n random crops at a random scale (0.5-1 of the short side), resized to size x size."""
    crops = []
    for _ in range(n):
        p = photos[rng.randrange(len(photos))]
        _, h, w = p.shape
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y, x = rng.randrange(h - side + 1), rng.randrange(w - side + 1)
        crop = p[:, y:y + side, x:x + side][None]
        crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(crops)


def painting_tensor(img: np.ndarray, long_side: int) -> torch.Tensor:
    t = to_tensor(img)[None]
    f = long_side / max(t.shape[2:])
    return F.interpolate(t, scale_factor=f, mode="bilinear", antialias=True, align_corners=False) if f < 1 else t


# --- training -----------------------------------------------------------------------------------

def check_name(name: str, overwrite: bool) -> None:
    if not NAME_RE.match(name):
        raise SfumatoError(f"style name {name!r}: use lowercase letters, digits and '-' (at most 40 characters)")
    if name.isdigit():
        raise SfumatoError(f"style name {name!r} would clash with the index aliases; add a letter")
    if name in existing_names() and not overwrite:
        raise SfumatoError(f"a style named {name!r} already exists; choose another --name")


def train(args) -> dict:
    """Train one new style (a row of the style table, or with --full a model of its own), resumable
    from its checkpoint, then export it and record how it was made."""
    check_name(args.name, args.resume or args.overwrite)
    run = StyleRun(args)
    if args.resume and run.checkpoint.exists():
        run.resume()
    seconds = run.train_steps()
    return run.export(seconds)


class StyleRun:
    """The network with one new style row, what learns in it, the loss, and where it is saved."""

    def __init__(self, args):
        self.args = args
        painting = read_image(args.style_image, "style image")
        self.device = device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SfumatoError("--device cuda: this torch build has no usable CUDA; use --device cpu")
        torch.manual_seed(args.seed)
        self.rng = random.Random(args.seed)
        self.photos = load_photos(Path(args.content))
        self.target_dir = SHIPPED_STYLES if args.ship else user_styles_dir()
        self.folders = [SHIPPED_STYLES] + ([] if args.ship else [user_styles_dir()])
        self.net, _ = assemble([f for f in self.folders if f != self.target_dir or not (f / f"{args.name}.json").exists()])
        self.net.add_style_rows(1)
        self.row = self.net.n_styles - 1
        self.net.train().to(device)
        for p in self.net.parameters():
            p.requires_grad_(args.full)
        params = [p for n, p in self.net.named_parameters() if args.full or n.endswith((".gamma", ".beta"))]
        for p in params:
            p.requires_grad_(True)
        self.optimizer = torch.optim.Adam(params, lr=args.lr)
        self.loss_fn = StyleLoss(loss_network(args.loss_net).to(device),
                                 painting_tensor(painting, args.style_size).to(device),
                                 args.style_weight, args.content_weight)
        self.weights = torch.zeros(self.net.n_styles, device=device)
        self.weights[self.row] = 1.0
        self.n_stats = torch.zeros(stats_size(self.net), device=device)
        self.mix = torch.zeros(1, device=device)
        self.checkpoint = Path(args.checkpoint_dir) / args.name / "checkpoint.pt"
        self.step, self.history, self.elapsed = 0, [], 0.0

    def resume(self) -> None:
        ckpt = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        self.net.load_state_dict(ckpt["net"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step, self.history, self.elapsed = ckpt["step"], ckpt["history"], ckpt["elapsed"]
        self.rng.setstate(ckpt["rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resumed {self.args.name} at step {self.step}")

    def train_steps(self) -> float:
        """Steps up to --steps, a checkpoint every --save-every; returns the training's seconds."""
        from tqdm import tqdm
        args = self.args
        bar = tqdm(total=args.steps, initial=self.step, desc=f"training {args.name}", unit="step")
        t0 = time.perf_counter() - self.elapsed
        while self.step < args.steps:
            style_loss, content_loss = self.train_step()
            self.history.append((self.step, style_loss, content_loss))
            bar.set_postfix(style=f"{style_loss:.3f}", content=f"{content_loss:.3f}")
            bar.update(1)
            if self.step % args.save_every == 0 or self.step == args.steps:
                self.save(time.perf_counter() - t0)
        bar.close()
        return time.perf_counter() - t0

    def train_step(self) -> tuple[float, float]:
        content = random_crops(self.photos, self.args.batch, self.args.size, self.rng).to(self.device)
        out, _ = self.net(content, self.weights, self.n_stats, self.mix)
        style_loss, content_loss = self.loss_fn(out, content)
        self.optimizer.zero_grad()
        (style_loss + content_loss).backward()
        if not self.args.full:  # only the new style's row learns; the 26 others stay exactly as they are
            for n, p in self.net.named_parameters():
                if p.grad is not None and n.endswith((".gamma", ".beta")):
                    p.grad[:self.row] = 0
        self.optimizer.step()
        self.step += 1
        return style_loss.item(), content_loss.item()

    def save(self, elapsed: float) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(self.checkpoint) as tmp:
            torch.save({"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                        "history": self.history, "elapsed": elapsed, "rng": self.rng.getstate(),
                        "torch_rng": torch.get_rng_state()}, tmp)

    def export(self, seconds: float) -> dict:
        """The new style into the table (or its own model with --full), with its training record."""
        args, net = self.args, self.net.cpu().eval()
        first, last = np.mean([h[1] for h in self.history[:10]]), np.mean([h[1] for h in self.history[-10:]])
        meta = {"name": args.name, "source": f"trained from {Path(args.style_image).name}",
                "training": {"steps": self.step, "seconds": round(seconds, 1), "loss_net": args.loss_net,
                             "device": args.device, "batch": args.batch, "size": args.size, "seed": args.seed,
                             "style_loss_first10": round(float(first), 4), "style_loss_last10": round(float(last), 4),
                             "command": "python -m sfumato.export train style " + " ".join(args.argv)}}
        if args.ship:
            from .onnx_export import MODELS_DIR
            models_dir = MODELS_DIR
        else:
            from sfumato.runtime.manifest import user_dir
            models_dir = user_dir() / "models"
            models_dir.mkdir(parents=True, exist_ok=True)
        if args.full:  # new convolutions: a model of its own, the table stays as it was
            entry = export_single_style(net, self.row, models_dir, meta)
            meta["full"] = True
            self.target_dir.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.target_dir / f"{args.name}.json", json.dumps(meta, indent=2) + "\n")
        else:
            save_row(net, self.row, self.target_dir, meta)
            entry = build_table(models_dir, self.folders)
        if not args.ship:
            from sfumato.hooks import models_changed
            models_changed()  # e.g. the GIMP Stylize dialog offers the new style from GIMP's next start
        where = f"model '{entry['file']}'" if args.full else f"table '{TABLE}' now has {len(entry['styles'])} styles"
        print(f"{args.name}: {self.step} steps in {seconds / 60:.1f} min, style loss {first:.3f} -> {last:.3f}; "
              f"{where} ({models_dir})")
        return meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style-image", required=True, type=Path, help="the painting")
    p.add_argument("--name", required=True, help="the new style's name (lowercase, digits, '-')")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--full", action="store_true",
                   help="also train the convolutions (a GPU job): the style becomes a model of its own")
    p.add_argument("--loss-net", choices=["efficientnet", "mobilenet"], default="efficientnet")
    p.add_argument("--content", type=Path, default=PHOTOS, help="folder of training photos")
    p.add_argument("--size", type=int, default=256, help="training crop size")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--style-size", type=int, default=512, help="long side of the painting for the style target")
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=25)
    p.add_argument("--checkpoint-dir", type=Path, default=source.CACHE / "train")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this name")
    p.add_argument("--overwrite", action="store_true", help="replace an existing trained style of this name")
    p.add_argument("--ship", action="store_true", help="(maintainers) add to the shipped table in core/models")
