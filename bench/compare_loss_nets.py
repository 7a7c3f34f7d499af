"""Which loss network trains better styles? Train the same painting with each (same seed, steps and
settings), then score both results on photos neither saw in training, with BOTH networks' style
losses (a style that only fools the network it was trained on scores well on one column only), and
write a side-by-side picture.

    python bench/compare_loss_nets.py --rows efficientnet=A.npz mobilenet=B.npz --painting P --out cmp.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sfumato.imageio import read_image  # noqa: E402
from sfumato.export.nets.norm import stats_size  # noqa: E402
from sfumato.export.style_table import base_net, norm_layers  # noqa: E402
from sfumato.export.train_style import StyleLoss, loss_network, painting_tensor, to_tensor  # noqa: E402

HELD_OUT = ["skimage_hubble_deep_field.png", "skimage_camera.png", "skimage_brick.png"]


def net_with_row(npz: Path):
    net, _ = base_net()
    net.add_style_rows(1)
    with np.load(npz) as z:
        for name, layer in norm_layers(net).items():
            layer.gamma.data[-1] = torch.from_numpy(z[f"{name}.gamma"])
            layer.beta.data[-1] = torch.from_numpy(z[f"{name}.beta"])
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", nargs="+", required=True, help="LOSSNET=row.npz")
    ap.add_argument("--painting", type=Path, required=True)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    ap.add_argument("--out", type=Path, default=Path("loss-nets.png"))
    args = ap.parse_args()
    rows = dict(r.split("=", 1) for r in args.rows)
    painting = painting_tensor(read_image(args.painting), 512)
    judges = {name: StyleLoss(loss_network(name), painting, 1.0, 1.0) for name in ("efficientnet", "mobilenet")}
    photos = [to_tensor(read_image(args.photos / p))[None] for p in HELD_OUT]
    photos = [torch.nn.functional.interpolate(p, size=(256, 256), mode="bilinear", antialias=True) for p in photos]
    scores, tiles = {}, {}
    for trained_with, npz in rows.items():
        net = net_with_row(Path(npz))
        w = torch.zeros(net.n_styles)
        w[-1] = 1
        with torch.no_grad():
            outs = [net(p, w, torch.zeros(stats_size(net)), torch.zeros(1))[0] for p in photos]
            scores[trained_with] = {judge: float(np.mean([loss(o, p)[0] for o, p in zip(outs, photos)]))
                                    for judge, loss in judges.items()}
        tiles[trained_with] = outs
    print(json.dumps(scores, indent=1))
    print("style loss on held-out photos (lower = closer to the painting); rows: trained with, columns: judged by")
    for t, s in scores.items():
        print(f"  {t:13s} " + "  ".join(f"{j}={v:.3f}" for j, v in s.items()))
    sheet = Image.new("RGB", (256 * (len(photos) + 1), 256 * len(rows) + 20 * len(rows)), "white")
    d = ImageDraw.Draw(sheet)
    art = Image.open(args.painting).convert("RGB").resize((256, 256))
    for r, (name, outs) in enumerate(tiles.items()):
        y = r * 276
        d.text((4, y + 4), f"trained with {name}", fill="black")
        sheet.paste(art, (0, y + 20))
        for i, o in enumerate(outs):
            arr = (o[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
            sheet.paste(Image.fromarray(arr), (256 * (i + 1), y + 20))
    sheet.save(args.out)
    print(f"picture -> {args.out}")


if __name__ == "__main__":
    main()
