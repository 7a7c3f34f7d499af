"""Our stylization ONNX convention, as one adapter: the core's pixels in, the network's tensors
through, the core's pixels out."""
from __future__ import annotations


import numpy as np

from ..pixels import to_planar
from ..runtime import manifest, sessions
from ..runtime.job import Job


class NormStatsAdapter:
    """Our stylization ONNX convention: image [1,3,H,W] 0..1 (H, W multiples of 4) + conditioning +
    norm_stats/stats_mix in, stylized + stats out (see export/nets/norm.py)."""

    def __init__(self, model: str, device: str, conditioning: dict[str, np.ndarray], job: Job):
        self.session = sessions.session(model, device)
        self.conditioning = conditioning
        self.stats_size = manifest.get_model(model).entry["stats_size"]
        self.job = job

    def run(self, image: np.ndarray, stats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """H x W x 3 image, float in the core's convention or still in its storage dtype."""
        h, w = image.shape[:2]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)
        feeds = {
            "image": to_planar(image),
            "norm_stats": stats if stats is not None else np.zeros(self.stats_size, np.float32),
            "stats_mix": np.array([1.0 if stats is not None else 0.0], np.float32),
            **self.conditioning,
        }
        out, new_stats = self.job.run(self.session, feeds)
        return out[0].transpose(1, 2, 0)[:h, :w], new_stats
