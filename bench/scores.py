"""Scores of a fill inside its hole (float H x W x 3 images in 0..1, bool hole), shared by the benches."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray, hole: np.ndarray) -> float:
    """Gaussian-window SSIM (Wang et al. 2004) on luminance, averaged over the hole."""
    a, b = a @ LUMA, b @ LUMA
    g = lambda x: ndimage.gaussian_filter(x, 1.5)  # noqa: E731
    mu_a, mu_b = g(a), g(b)
    va, vb, cov = g(a * a) - mu_a ** 2, g(b * b) - mu_b ** 2, g(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(s[hole].mean())


def grad_energy(x: np.ndarray, hole: np.ndarray) -> float:
    gy, gx = np.gradient(x @ LUMA)
    return float(np.sqrt(gx ** 2 + gy ** 2)[hole].mean())


def grad_ratio(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Texture energy in the hole against the truth's: 1 = as sharp as the original, < 1 blurry."""
    return grad_energy(result, hole) / max(grad_energy(truth, hole), 1e-8)
