"""Stylize a video clip: `sfumato stylize clip.mp4 -o out.mp4 --style NAME` (`pip install "sfumato[video]"`).

Frames are decoded and encoded as a stream (PyAV), so memory stays bounded by a few frames whatever
the clip's length; the output has the input's size, frame rate and timestamps, and the audio is
copied unchanged. Against flicker: the frames share their normalisation statistics, a slow moving
average of every frame's own (styling/tiling.py's SharedStats), so the style follows a scene change within a
few dozen frames but not each frame's content; and since a style network amplifies small input
changes (noise), each frame keeps part of the previous stylized frame, moved with the camera, where
the input did not change (TemporalFilter). bench/bench_video.py measures the flicker.

With `--ray` the frames are stylized in chunks on a pool of Ray actors (core/batch/ray_batch.py), which
cannot share a moving average: the statistics are then computed once, before, from frames sampled
over the whole clip (statistics="clip", which runs locally too), and passed to every actor; decoding,
the temporal filter and encoding stay here, in frame order.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..atomic import replacing
from ..errors import SfumatoError
from ..runtime.sessions import cpu_flags
from ..styling.pipeline import StylizeOptions, clip_statistics, stylize
from ..styling.tiling import SharedStats

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
SMOOTHING = 0.1  # weight of each new frame's statistics in the shared ones
TEMPORAL = 0.6   # how much of the previous output is kept where the input did not change
CHANGE = 8.0     # /255: a change of the input this large (after the camera's motion) lets the new frame through
SAMPLE = 16      # frames, spread over the clip, that statistics="clip" is taken from


def global_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """The whole-pixel (dy, dx) that best maps frame a onto frame b (phase correlation): a pan or a
    shake, the motion most shots have."""
    ga, gb = a.mean(axis=2), b.mean(axis=2)
    spectrum = np.fft.rfft2(gb - gb.mean()) * np.conj(np.fft.rfft2(ga - ga.mean()))
    r = np.fft.irfft2(spectrum / (np.abs(spectrum) + 1e-9), s=ga.shape)
    dy, dx = np.unravel_index(int(np.argmax(r)), r.shape)
    h, w = ga.shape
    return int(dy - h if dy > h // 2 else dy), int(dx - w if dx > w // 2 else dx)


def _moved(x: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """x shifted by (dy, dx), and where the shifted picture has content."""
    out, valid = np.zeros_like(x), np.zeros(x.shape[:2], bool)
    h, w = x.shape[:2]
    if abs(dy) >= h or abs(dx) >= w:
        return out, valid
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[dst_y, dst_x], valid[dst_y, dst_x] = x[src_y, src_x], True
    return out, valid


class TemporalFilter:
    """Small input changes (sensor noise, compression) are amplified by a style network into visible
    flicker. Each stylized frame keeps `amount` of the previous one, moved with the camera, wherever
    the input itself did not change beyond `change`; where it did (motion, a new scene), the new frame
    shows as it is, so nothing smears."""

    def __init__(self, amount: float = TEMPORAL, change: float = CHANGE):
        self.amount, self.change = amount, change
        self.previous: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, frame: np.ndarray, styled: np.ndarray) -> np.ndarray:
        inp, out = frame.astype(np.float32), styled.astype(np.float32)
        if self.previous is not None and self.amount > 0:
            prev_in, prev_out = self.previous
            dy, dx = global_shift(prev_in, inp)
            moved_in, valid = _moved(prev_in, dy, dx)
            moved_out, _ = _moved(prev_out, dy, dx)
            same = np.exp(-(np.abs(inp - moved_in).mean(axis=2) / self.change) ** 2) * valid
            out += (self.amount * same)[..., None] * (moved_out - out)
        self.previous = inp, out
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise SfumatoError('video needs PyAV: pip install "sfumato[video]"') from None
    return av


def stylize_video(src: Path, dst: Path, options: StylizeOptions, smoothing: float = SMOOTHING,
                  temporal: float = TEMPORAL, on_frame: Callable[[int, int], None] | None = None,
                  statistics: str = "moving", ray: str | None = None, actors: int = 0,
                  gpus_per_actor: float = 0.0) -> int:
    """Stylize every frame of `src` into `dst` (written under a temporary name, then renamed).
    Returns the number of frames. on_frame(done, total) follows progress (total 0 when unknown).
    statistics: "moving" (a slow moving average over the frames, the default) or "clip" (the mean of
    frames sampled over the clip, held fixed); `ray` ("local" or a cluster address) stylizes the
    frames on Ray actors, with "clip" statistics."""
    if statistics not in ("moving", "clip"):
        raise SfumatoError(f'statistics must be "moving" or "clip", got {statistics!r}')
    av = _av()
    if not src.exists():
        raise SfumatoError(f"video not found: {src}")
    if not dst.parent.is_dir():
        raise SfumatoError(f"output folder {dst.parent} does not exist")
    try:
        with replacing(dst, suffix=dst.suffix) as tmp:  # the container is chosen by the name's ending
            shared = None
            if statistics == "clip" or ray is not None:
                with _open(av, src) as source:
                    shared = clip_statistics(_sample(source), options)
            with _open(av, src) as source:
                if ray is not None:
                    from . import ray_batch

                    def run(frames):
                        return ray_batch.stylize_frames(frames, options, shared.value, actors,
                                                        None if ray == "local" else ray, gpus_per_actor)
                else:
                    shared = shared or SharedStats(smoothing)

                    def run(frames):
                        return (stylize(rgb, options, shared=shared) for rgb in frames)
                return _transcode(av, source, tmp, run, temporal, on_frame)
    except av.error.FFmpegError as exc:
        raise SfumatoError(f"video {src} could not be converted ({exc})") from None


def encoder_options(codec: str) -> dict[str, str]:
    """crf 18, visually lossless: the style, not the encoder, should change the look. On a processor
    with AVX-512, x264 is held to its AVX2 code: its AVX-512 paths encoded the same frames to
    different bits from run to run whenever other work had run in the process between frames
    (onnxruntime, BLAS; measured on a 2-core Xeon, PyAV 18.1), so a clip did not come out the same
    twice; the AVX2 paths are exact, and as fast here (1080p: 57-71 ms a frame either way)."""
    options = {"crf": "18"}
    # a processor with AVX-512BW has all of x264's "avx2" set (AVX2, FMA3, BMI1/2, LZCNT)
    if codec == "libx264" and "avx512bw" in cpu_flags().split():
        options["x264-params"] = "asm=avx2"
    return options


def _open(av, src: Path):
    try:
        source = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise SfumatoError(f"video {src} cannot be read ({exc})") from None
    if not source.streams.video:
        source.close()
        raise SfumatoError(f"{src} has no video stream")
    source.streams.video[0].thread_type = "AUTO"
    return source


def _even(frame, vin) -> np.ndarray:
    """A decoded frame as RGB, cropped to even width and height (what yuv420p can encode)."""
    h, w = vin.codec_context.height // 2 * 2, vin.codec_context.width // 2 * 2
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24")[:h, :w])


def _sample(source) -> Iterator[np.ndarray]:
    """About SAMPLE frames spread evenly over the clip (every 10th when its length is not known)."""
    vin = source.streams.video[0]
    step = max(1, (vin.frames or 10 * SAMPLE) // SAMPLE)
    for i, frame in enumerate(source.decode(vin)):
        if i % step == 0:
            yield _even(frame, vin)


def _transcode(av, source, tmp: Path, run, temporal, on_frame) -> int:
    """Decode, stylize (`run`: an iterator of frames in, of stylized frames out, in order), filter
    and encode. Only the frames between decoding and encoding are held: as many as `run` reads ahead."""
    vin = source.streams.video[0]
    ain = source.streams.audio[0] if source.streams.audio else None
    steady = TemporalFilter(temporal)
    total = vin.frames or 0
    with av.open(str(tmp), "w") as out:
        rate = vin.average_rate or vin.guessed_rate or 25
        codec = "libx264" if tmp.suffix.lower() != ".webm" else "libvpx-vp9"
        vout = out.add_stream(codec, rate=rate)
        vout.width, vout.height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
        vout.pix_fmt = "yuv420p"
        vout.time_base = vin.time_base
        vout.options = encoder_options(codec)
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        waiting = deque()  # (input frame, pts, time base) of frames read and not yet encoded

        def decoded():
            for packet in source.demux(*streams):
                if packet.stream is ain:
                    if packet.dts is not None:
                        packet.stream = aout
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    rgb = _even(frame, vin)
                    waiting.append((rgb, frame.pts, frame.time_base))
                    yield rgb
        done = 0
        for styled in run(decoded()):
            rgb, pts, time_base = waiting.popleft()
            new = av.VideoFrame.from_ndarray(steady(rgb, styled), format="rgb24")
            new.pts, new.time_base = pts, time_base
            for p in vout.encode(new):
                out.mux(p)
            done += 1
            if on_frame is not None:
                on_frame(done, total)
        for p in vout.encode():
            out.mux(p)
    if done == 0:
        raise SfumatoError("the video has no frames that could be decoded")
    return done
