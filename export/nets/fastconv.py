"""Exact rewrites of the stylization nets' full-resolution convolutions for CPU speed.

onnxruntime's CPU convolutions work on channel blocks of 8/16, so a conv with 3-8 channels at full
resolution wastes most of its work, and "nearest upsample -> reflect pad -> conv" materialises a big
upsampled tensor. Both rewrites below compute the same numbers (up to float rounding) with the same
weights, rearranged by a constant linear map (exported as an Einsum on initializers, which
onnxruntime folds at load time):

- UpConv: nearest x2 upsample -> reflect pad 1 -> 3x3 conv  ==  edge pad 1 at low resolution ->
  3x3 conv with 4*Cout channels (one per output phase) -> pixel shuffle.
  (Reflect-padding an upsampled image repeats its edge pixels, hence edge padding at low res.)
- reflect_conv3_s2: reflect pad 1 -> 3x3 stride-2 conv  ==  the conv with zero padding (which
  onnxruntime applies inside the conv kernel, without a padded copy) + the first output row's and
  column's taps on the reflected row/column, added by one scatter. The padded copy of the full-resolution
  32-channel tensor cost more than the convolution that read it. (Stride 1 would need four border
  fixes, which cost more than the small quarter-resolution pads they replace.)
- S2DConv: reflect pad k//2 -> k x k conv (k odd)  ==  reflect pad -> one (k+1) x (k+1) conv of
  stride 2 with 4*Cout outputs (one per output phase) -> pixel shuffle. Needs even H, W. (The same
  as space-to-depth followed by a ((k+1)/2)^2 conv, without materialising the space-to-depth
  tensor: its transpose alone cost more than the convolution.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _upsample_map() -> torch.Tensor:
    """A[p, u, dy] = 1 when tap dy of output phase p reads low-res offset u-1."""
    a = torch.zeros(2, 3, 3)
    for p in range(2):
        for dy in range(3):
            a[p, (p + dy - 1) // 2 + 1, dy] = 1.0
    return a


def _s2d_map(k: int) -> torch.Tensor:
    """B[p, a, u, dy] = 1 when tap dy of output phase p reads phase a at block offset u."""
    n = (k + 1) // 2
    b = torch.zeros(2, 2, n, k)
    for p in range(2):
        for dy in range(k):
            b[p, (p + dy) % 2, (p + dy) // 2, dy] = 1.0
    return b


def upconv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """== conv2d(reflect_pad(upsample_nearest_x2(x), 1), w) for a 3x3 kernel w."""
    a = _upsample_map().to(w.dtype)
    cout, cin = w.shape[:2]
    phase_w = torch.einsum("pud,qve,ocde->opqcuv", a, a, w).reshape(4 * cout, cin, 3, 3)
    return F.pixel_shuffle(F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), phase_w), 2)


def s2d_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """== conv2d(reflect_pad(x, k//2), w) for an odd k x k kernel w and even H, W."""
    k = w.shape[-1]
    b = _s2d_map(k).to(w.dtype)
    cout, cin = w.shape[:2]
    n = (k + 1) // 2
    # weights over (input phase a, b) at block offset (u, v) read full-resolution tap (2u + a, 2v + b)
    block_w = torch.einsum("paud,qbve,ocde->opqcuavb", b, b, w).reshape(4 * cout, cin, 2 * n, 2 * n)
    return F.pixel_shuffle(F.conv2d(F.pad(x, [k // 2] * 4, mode="reflect"), block_w, stride=2), 2)


class _AddAt(torch.autograd.Function):
    """data with updates added at element indices [K, 4] (no duplicates): one ScatterND(add) in
    ONNX, i.e. one copy of data. Used only while exporting."""

    @staticmethod
    def forward(ctx, data, indices, updates):
        return data.index_put(tuple(indices.unbind(-1)), updates, accumulate=True)

    @staticmethod
    def symbolic(g, data, indices, updates):
        return g.op("ScatterND", data, indices, updates, reduction_s="add")  # opset 16+


def reflect_conv3_s2(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """== conv2d(reflect_pad(x, 1), w, stride=2) for a 3x3 kernel w and even H, W.

    PyTorch runs the plain form; the ONNX export gets the pad-free form (parity-checked at build).
    Reflect padding differs from zero padding only in the frame around x, and with stride 2 and even
    sizes only its top row (= row 1) and left column (= column 1) are ever read, by the output's
    first row and first column. So: the zero-padded conv, plus those taps added in one scatter."""
    if not torch.onnx.is_in_onnx_export():
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), w, stride=2)
    out = F.conv2d(x, w, stride=2, padding=1)
    # the row above (row 1, itself reflected sideways: this covers the corner tap) -> output row 0
    top = F.conv2d(F.pad(x[:, :, 1:2], [1, 1, 0, 0], mode="reflect"), w[:, :, 0:1], stride=2)[0, :, 0]
    # the column left of x (column 1, zero above: the corner is in `top`) -> output column 0
    left = F.conv2d(F.pad(x[:, :, :, 1:2], [0, 0, 1, 1]), w[:, :, :, 0:1], stride=2)[0, :, :, 0]
    top = torch.cat([top[:, :1] + left[:, :1], top[:, 1:]], 1)  # [O, Wo], corner included once
    left = left[:, 1:]  # [O, Ho - 1]
    c = torch.arange(out.shape[1]).reshape(-1, 1)
    cols = torch.arange(out.shape[3]).reshape(1, -1)
    rows = torch.arange(1, out.shape[2]).reshape(1, -1)

    def at(ys, xs):  # [O, n, 4] element indices (0, c, y, x)
        ys, xs = torch.broadcast_tensors(ys + 0 * c, xs + 0 * c)
        return torch.stack([0 * ys, c + 0 * ys, ys, xs], -1)

    indices = torch.cat([at(0 * cols, cols).reshape(-1, 4), at(rows, 0 * rows).reshape(-1, 4)])
    return _AddAt.apply(out, indices, torch.cat([top.reshape(-1), left.reshape(-1)]))
