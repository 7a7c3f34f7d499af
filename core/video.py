"""Stylize a video clip: `sfumato stylize clip.mp4 -o out.mp4 --style NAME` (`pip install "sfumato[video]"`).

Frames are decoded and encoded as a stream (PyAV), so memory stays bounded by a few frames whatever
the clip's length; the output has the input's size, frame rate and timestamps, and the audio is
copied unchanged. Each frame normalising with its own statistics makes the look jump from frame to
frame (flicker): the frames share them instead, as a slow moving average of every frame's own
(core.tiling.SharedStats), so the style follows a scene change within a few dozen frames but not
the small changes between two frames. bench/bench_video.py measures the flicker.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import SfumatoError
from .styletransfer import StylizeOptions, stylize
from .tiling import SharedStats

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
SMOOTHING = 0.1  # weight of each new frame's statistics in the shared ones


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise SfumatoError('video needs PyAV: pip install "sfumato[video]"') from None
    return av


def stylize_video(src: Path, dst: Path, options: StylizeOptions, smoothing: float = SMOOTHING,
                  on_frame: Callable[[int, int], None] | None = None) -> int:
    """Stylize every frame of `src` into `dst` (written under a temporary name, then renamed).
    Returns the number of frames. on_frame(done, total) follows progress (total 0 when unknown)."""
    av = _av()
    if not src.exists():
        raise SfumatoError(f"video not found: {src}")
    if not dst.parent.is_dir():
        raise SfumatoError(f"output folder {dst.parent} does not exist")
    try:
        source = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise SfumatoError(f"video {src} cannot be read ({exc})") from None
    fd, tmp = tempfile.mkstemp(prefix=".sfumato-", suffix=dst.suffix, dir=dst.parent)
    os.close(fd)
    try:
        with source:
            if not source.streams.video:
                raise SfumatoError(f"{src} has no video stream")
            vin = source.streams.video[0]
            vin.thread_type = "AUTO"
            ain = source.streams.audio[0] if source.streams.audio else None
            frames = _transcode(av, source, vin, ain, Path(tmp), options, smoothing, on_frame)
        os.replace(tmp, dst)
        return frames
    except av.error.FFmpegError as exc:
        raise SfumatoError(f"video {src} could not be converted ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _transcode(av, source, vin, ain, tmp: Path, options, smoothing, on_frame) -> int:
    shared = SharedStats(smoothing)
    total = vin.frames or 0
    with av.open(str(tmp), "w") as out:
        rate = vin.average_rate or vin.guessed_rate or 25
        vout = out.add_stream("libx264" if tmp.suffix.lower() != ".webm" else "libvpx-vp9", rate=rate)
        vout.width, vout.height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
        vout.pix_fmt = "yuv420p"
        vout.time_base = vin.time_base
        vout.options = {"crf": "18"}  # visually lossless: the style, not the encoder, should change the look
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        done = 0
        for packet in source.demux(*streams):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                rgb = frame.to_ndarray(format="rgb24")[:vout.height, :vout.width]
                styled = stylize(np.ascontiguousarray(rgb), options, shared=shared)
                new = av.VideoFrame.from_ndarray(styled, format="rgb24")
                new.pts, new.time_base = frame.pts, frame.time_base
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
