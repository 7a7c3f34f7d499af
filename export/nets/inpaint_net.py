"""Sfumato's inpainting network, designed to be trainable on a 2-core CPU.

Input: the harmonic prior fill (core/inpaint_models.py, RGB 0..1) and the hole mask (1 = hole).
A frozen ImageNet EfficientNet-Lite0 encoder (stages 1-4) reads the prior; a small U-Net style
decoder, given the mask at every scale, predicts a correction that is added to the prior inside
the hole. Measured here (shared/notes): a pretrained encoder is worth 4-6x the gain of a
from-scratch net at equal CPU time. Fully convolutional: any size divisible by 16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet_lite import EfficientNetLite0Features


def _conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2))


class Up(nn.Module):
    """x2 bilinear upsample, concatenate the encoder skip and the mask at that scale, two convs."""

    def __init__(self, cin, skip, cout, scale):
        super().__init__()
        self.scale = scale  # the skip's downscale factor (sizes are multiples of 16, so pooling is exact)
        self.body = nn.Sequential(_conv(cin + skip + 1, cout), _conv(cout, cout))

    def forward(self, x, skip, mask):
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip, F.avg_pool2d(mask, self.scale)], 1))


class InpaintNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = EfficientNetLite0Features()   # 16@/2, 24@/4, 40@/8, 80@/16
        self.bottleneck = nn.Sequential(_conv(80 + 1, 64), _conv(64, 64), _conv(64, 64))
        self.up3 = Up(64, 40, 48, 8)
        self.up2 = Up(48, 24, 32, 4)
        self.up1 = Up(32, 16, 24, 2)
        self.head = nn.Sequential(_conv(24 + 3 + 1, 16), nn.Conv2d(16, 3, 3, padding=1))

    def forward(self, image, mask):
        f1, f2, f3, f4 = self.encoder(image)
        x = self.bottleneck(torch.cat([f4, F.avg_pool2d(mask, 16)], 1))
        x = self.up3(x, f3, mask)
        x = self.up2(x, f2, mask)
        x = self.up1(x, f1, mask)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        residual = self.head(torch.cat([x, image, mask], 1))
        return torch.clamp(image + mask * residual, 0.0, 1.0)
