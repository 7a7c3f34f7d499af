"""Instance normalisation whose statistics can come from outside.

Why: instance-norm style networks cannot be tiled naively (each tile would normalise with its own
statistics and the tiles would not match). Every norm layer here both *reports* the statistics it
computed and can *use* statistics handed in (from a downscaled pass over the whole image), mixed by
``stats_mix``: 0 = own statistics (plain instance norm), 1 = given statistics.
"""
from __future__ import annotations

import torch
from torch import nn

EPS = 1e-5


class StatsNorm(nn.Module):
    """Normalise x with (mean, var) that are either its own or given; no affine part."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor, ctx: "NormContext") -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        ctx.report(mean, var)
        given_mean, given_var = ctx.take(self.channels)
        mean = mean + ctx.mix * (given_mean - mean)
        var = var + ctx.mix * (given_var - var)
        return (x - mean) / torch.sqrt(var + EPS)


class NormContext:
    """Carries the given statistics in and collects the computed ones during one forward pass.

    Layout of a stats vector: for each norm layer in forward order, C means then C variances.
    """

    def __init__(self, given: torch.Tensor, mix: torch.Tensor):
        self.given = given.reshape(-1)
        self.mix = mix.reshape(1, 1, 1, 1) if mix.dim() else mix
        self.offset = 0
        self.collected: list[torch.Tensor] = []

    def take(self, c: int):
        o = self.offset
        self.offset += 2 * c
        return self.given[o:o + c].reshape(1, c, 1, 1), self.given[o + c:o + 2 * c].reshape(1, c, 1, 1)

    def report(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        self.collected += [mean.reshape(-1), var.reshape(-1)]

    def stats(self) -> torch.Tensor:
        return torch.cat(self.collected)


def stats_size(module: nn.Module) -> int:
    return sum(2 * m.channels for m in module.modules() if isinstance(m, StatsNorm))
