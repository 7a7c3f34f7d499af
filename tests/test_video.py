"""Video in, video out: same size, frame count, frame rate and duration, audio copied, frames stylized."""
import fractions

import numpy as np
import pytest

av = pytest.importorskip("av")  # the [video] extra; CI installs it with the test extra

from tests.conftest import run_cli  # noqa: E402


def _clip(path, frames=12, w=160, h=96, fps=12):
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (h, w + frames, 3), dtype=np.uint8)
        for t in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, t:t + w]), format="rgb24")):
                out.mux(p)
        samples = 16000 * frames // fps
        tone = (0.2 * np.sin(np.arange(samples) / 10)).astype(np.float32)[None]
        for i in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, i:i + 1024]), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i
            for p in a.encode(frame):
                out.mux(p)
        for s in (v, a):
            for p in s.encode():
                out.mux(p)


def _describe(path):
    with av.open(str(path)) as f:
        v = f.streams.video[0]
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
        return {"size": (v.codec_context.width, v.codec_context.height), "rate": v.average_rate,
                "frames": len(frames), "audio": len(f.streams.audio), "duration": float(f.duration or 0) / 1e6}, frames


def test_a_clip_is_stylized_frame_by_frame_with_its_timing_and_audio(tmp_path):
    src, dst = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    _clip(src)
    r = run_cli("stylize", src, "--style", "crimson", "-o", dst)
    assert r.returncode == 0, r.stderr
    assert "12 frames" in r.stdout
    a, fa = _describe(src)
    b, fb = _describe(dst)
    assert b["size"] == a["size"] and b["frames"] == a["frames"] == 12 and b["audio"] == 1
    assert b["rate"] == a["rate"] == fractions.Fraction(12) and abs(b["duration"] - a["duration"]) < 0.1
    assert np.abs(fb[5].astype(float) - fa[5]).mean() > 20  # stylized, not copied
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sfumato-")] == []


def test_video_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    r = run_cli("stylize", bad, "--style", "crimson", "-o", tmp_path / "out.mp4")
    assert r.returncode == 2 and r.stderr.startswith("error: video") and len(r.stderr.strip().splitlines()) == 1
    _clip(tmp_path / "ok.mp4", frames=2)
    r = run_cli("stylize", tmp_path / "ok.mp4", "--style", "crimson", "-o", tmp_path / "out.png")
    assert r.returncode == 2 and "must be a video too" in r.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.png").exists()


def test_the_temporal_filter_steadies_noise_and_lets_real_changes_through():
    from sfumato.batch.video import TemporalFilter, global_shift
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 255, (64, 96 + 8, 3)).astype(np.float32)
    frames = [np.clip(scene[:, t:t + 96] + rng.normal(0, 2, (64, 96, 3)), 0, 255).astype(np.uint8) for t in range(6)]
    assert global_shift(frames[0].astype(np.float32), frames[1].astype(np.float32)) == (0, -1)  # a pan to the left
    noisy_style = [np.clip(f.astype(float) + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in frames]
    steady = TemporalFilter()
    out = [steady(f, s) for f, s in zip(frames, noisy_style)]
    jitter = lambda xs: np.mean([np.abs(b[:, :-1].astype(float) - a[:, 1:]).mean() for a, b in zip(xs, xs[1:])])  # noqa: E731
    assert jitter(out) < 0.7 * jitter(noisy_style)
    cut = rng.integers(0, 255, (64, 96, 3)).astype(np.uint8)  # a new scene: shown as it is, no ghost of the old one
    styled_cut = cut.copy()
    assert np.abs(steady(cut, styled_cut).astype(float) - styled_cut).mean() < 1.0


def test_ray_stylizes_a_clip_in_chunks_exactly_as_one_process_with_clip_statistics(tmp_path):
    """`--ray` sends chunks of frames to actors with statistics computed once from frames sampled
    over the clip; the same statistics in one process give the same frames, bit for bit (and the
    frames are in their order: the clip pans, so a swapped chunk would differ)."""
    pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]'")
    from sfumato.styling.pipeline import StylizeOptions
    from sfumato.batch.video import stylize_video
    src = tmp_path / "clip.mp4"
    _clip(src, frames=20)  # 20 frames: chunks of 8, 8 and 4 over two actors
    local = tmp_path / "local.mp4"
    stylize_video(src, local, StylizeOptions(style="crimson"), statistics="clip")
    r = run_cli("stylize", src, "--style", "crimson", "-o", tmp_path / "ray.mp4", "--ray", "--jobs", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "20 frames" in r.stdout
    a, fa = _describe(local)
    b, fb = _describe(tmp_path / "ray.mp4")
    assert a == b and all(np.array_equal(x, y) for x, y in zip(fa, fb))
    moving = tmp_path / "moving.mp4"
    stylize_video(src, moving, StylizeOptions(style="crimson"))
    assert not np.array_equal(_describe(moving)[1][10], fa[10])  # the statistics option is honoured


def test_the_same_clip_comes_out_the_same_twice(tmp_path):
    """Same clip, same options: the same file contents, decoded bit for bit. (x264's AVX-512 paths
    did not give that while onnxruntime worked between frames: see video.encoder_options.)"""
    from sfumato.styling.pipeline import StylizeOptions
    from sfumato.batch.video import stylize_video
    src = tmp_path / "clip.mp4"
    _clip(src, frames=12)
    for name in ("a.mp4", "b.mp4"):
        stylize_video(src, tmp_path / name, StylizeOptions(style="crimson"))
    a, fa = _describe(tmp_path / "a.mp4")
    b, fb = _describe(tmp_path / "b.mp4")
    assert a == b and a["frames"] == 12
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
