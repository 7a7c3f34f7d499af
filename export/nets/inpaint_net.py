"""Sfumato's inpainting network, designed to be trainable on a 2-core CPU.

Input: the harmonic prior fill (core/inpainting/priors.py, RGB 0..1) and the hole mask (1 = hole).
A frozen ImageNet EfficientNet-Lite0 encoder (stages 1-4) reads the prior; a small U-Net style
decoder, given the mask at every scale, predicts a correction that is added to the prior inside
the hole. Measured here (shared/notes): a pretrained encoder is worth 4-6x the gain of a
from-scratch net at equal CPU time. Fully convolutional: any size divisible by 16.

Large holes need context from far away: at 1/8 scale, Fourier-convolution residual blocks (LaMa's
FFC, Suvorov et al. 2022) mix every cell with every other through a 1x1 convolution in the 2-D
frequency domain. The DFT is written as matrix products with cos/sin bases built from the input's
size, so it exports to plain ONNX MatMuls (any size, CPU and CUDA alike) and is checked against
torch.fft in the tests. The blocks start as the identity (zero-initialised output), so a checkpoint
trained without them resumes unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet_lite import EfficientNetLite0Features


def _conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2))


def dft_bases(n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi j k / n (n x n), with j k reduced mod n first so large sizes stay exact."""
    k = torch.arange(n, dtype=like.dtype, device=like.device)
    angle = torch.remainder(k[:, None] * k[None, :], n) * (2 * math.pi / n)
    return torch.cos(angle), torch.sin(angle)


def dft2(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal 2-D DFT of a real N x C x H x W tensor over (H, W): (real, imaginary)."""
    h, w = x.shape[-2], x.shape[-1]
    ch, sh = dft_bases(h, x)
    cw, sw = dft_bases(w, x)
    xc, xs = x @ cw, x @ sw                      # x F_W = xc - i xs
    scale = torch.rsqrt((h * w) * x.new_ones(()))  # a tensor op on the sizes, so export keeps them dynamic
    return (ch @ xc - sh @ xs) * scale, -(sh @ xc + ch @ xs) * scale


def idft2_real(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """Real part of the orthonormal inverse 2-D DFT of re + i im."""
    h, w = re.shape[-2], re.shape[-1]
    ch, sh = dft_bases(h, re)
    cw, sw = dft_bases(w, re)
    p, q = ch @ re - sh @ im, sh @ re + ch @ im  # F_H^-1 (re + i im) = p + i q (times the scale)
    scale = torch.rsqrt((h * w) * re.new_ones(()))
    return (p @ cw - q @ sw) * scale


class FourierUnit(nn.Module):
    """A 1x1 convolution over (real, imaginary) channels of the image's 2-D spectrum: every output
    pixel depends on every input pixel, at the cost of four small matrix products."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(2 * c, 2 * c, 1)

    def forward(self, x):
        re, im = dft2(x)
        y = F.leaky_relu(self.conv(torch.cat([re, im], 1)), 0.2)
        re, im = torch.chunk(y, 2, dim=1)
        return idft2_real(re, im)


class FourierBlock(nn.Module):
    """FFC-style residual block: a local 3x3 branch and a global spectral branch, merged by a
    zero-initialised 1x1 convolution (the block is the identity until training moves it)."""

    def __init__(self, c):
        super().__init__()
        g = c // 2
        self.local = _conv(c, c)
        self.reduce = nn.Sequential(nn.Conv2d(c, g, 1), nn.LeakyReLU(0.2))
        self.spectral = FourierUnit(g)
        self.merge = nn.Conv2d(c + g, c, 1)
        nn.init.zeros_(self.merge.weight)
        nn.init.zeros_(self.merge.bias)

    def forward(self, x):
        r = self.reduce(x)
        return x + self.merge(torch.cat([self.local(x), r + self.spectral(r)], 1))


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
    GLOBAL_BLOCKS = 2  # Fourier blocks at 1/8 scale

    def __init__(self):
        super().__init__()
        self.encoder = EfficientNetLite0Features()   # 16@/2, 24@/4, 40@/8, 80@/16
        self.bottleneck = nn.Sequential(_conv(80 + 1, 64), _conv(64, 64), _conv(64, 64))
        self.up3 = Up(64, 40, 48, 8)
        self.global_blocks = nn.Sequential(*[FourierBlock(48) for _ in range(self.GLOBAL_BLOCKS)])
        self.up2 = Up(48, 24, 32, 4)
        self.up1 = Up(32, 16, 24, 2)
        self.head = nn.Sequential(_conv(24 + 3 + 1, 16), nn.Conv2d(16, 3, 3, padding=1))

    def forward(self, image, mask):
        f1, f2, f3, f4 = self.encoder(image)
        x = self.bottleneck(torch.cat([f4, F.avg_pool2d(mask, 16)], 1))
        x = self.global_blocks(self.up3(x, f3, mask))
        x = self.up2(x, f2, mask)
        x = self.up1(x, f1, mask)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        residual = self.head(torch.cat([x, image, mask], 1))
        return torch.clamp(image + mask * residual, 0.0, 1.0)
