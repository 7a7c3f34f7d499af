"""The inpainting model's adversarial part (with `train inpaint --adversarial`): a projected
discriminator (Sauer et al. 2021), small trained heads on frozen EfficientNet-Lite0 features, and
DiffAugment, the same random shift and colour change for real and fake, which keeps a small-data
discriminator honest."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Discriminator(nn.Module):
    """Projected discriminator heads: one small conv net per frozen-feature scale (1/4, 1/8, 1/16),
    each giving a logit per cell. Spectral norm keeps them from outrunning the generator.
    depth 1 (one hidden layer) settled near chance in 15,000 steps: it could not tell fills from
    photos, so its gradient taught the generator nothing; deeper heads see more of the fill."""

    CHANNELS = (24, 40, 80)  # EfficientNet-Lite0 stages 2-4

    def __init__(self, width: int = 64, depth: int = 1):
        super().__init__()
        sn = nn.utils.spectral_norm

        def head(c):
            layers = []
            for i in range(depth):
                layers += [sn(nn.Conv2d(c if i == 0 else width, width, 3, padding=1)), nn.LeakyReLU(0.2)]
            return nn.Sequential(*layers)
        self.depth = depth
        self.hidden = nn.ModuleList(head(c) for c in self.CHANNELS)
        self.logit = nn.ModuleList(sn(nn.Conv2d(width, 1, 1)) for _ in self.CHANNELS)

    def forward(self, feats):
        """feats: the frozen network's stages 2-4; returns (logits, hidden features) per scale."""
        hidden = [h(f) for h, f in zip(self.hidden, feats)]
        return [lg(x) for lg, x in zip(self.logit, hidden)], hidden


def augment(images: list[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """DiffAugment: the same random shift (up to 1/8 of the side, wrapping), brightness, saturation
    and contrast change for every image of the list, so real and fake stay comparable."""
    n = images[0].shape[0]
    side = images[0].shape[-1]
    r = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    shift_y, shift_x = (int((r(1).item() - 0.5) * side / 4) for _ in range(2))
    bright, sat, contrast = (r(n, 1, 1, 1) - 0.5) * 0.4, r(n, 1, 1, 1) + 0.5, r(n, 1, 1, 1) + 0.5
    out = []
    for x in images:
        x = torch.roll(x, (shift_y, shift_x), dims=(2, 3)) + bright
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * sat + grey
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        out.append(((x - mean) * contrast + mean).clamp(0.0, 1.0))
    return out


def hole_at(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(mask, like.shape[-2:])
