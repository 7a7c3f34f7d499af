import numpy as np
import pytest

import sfumato.styling.pipeline as st
from sfumato import StylizeOptions, SfumatoError, parse_style, style_table, stylize
from sfumato.pixels import to_float


def luma(a):
    return to_float(a)[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def test_styles_have_unique_names_and_index_aliases():
    table = style_table()
    assert len(table) >= 26
    names = [s["name"] for s in table]
    assert len(set(names)) == len(names) and all(n and not n.isdigit() for n in names)
    model, w = parse_style("starry-blue")
    model2, w2 = parse_style(str(names.index("starry-blue")))
    assert model == model2 == "styles" and np.array_equal(w, w2)


def test_blend_weights_are_normalised():
    _, w = parse_style("starry-blue:3,ink-comic:1")
    assert w.sum() == pytest.approx(1.0)
    assert sorted(w[w > 0]) == pytest.approx([0.25, 0.75])


@pytest.mark.parametrize("spec,match", [("no-such-style", "unknown style"), ("99", "unknown style"),
                                        ("starry-blue:x", "unknown style|bad weight"), ("starry-blue:0", "not all zero")])
def test_bad_style_specs(spec, match):
    with pytest.raises(SfumatoError, match=match):
        parse_style(spec)


def test_builtin_style_changes_the_image_and_keeps_shape(photo):
    out = stylize(photo, StylizeOptions(style="starry-blue"))
    assert out.shape == photo.shape and out.dtype == photo.dtype
    assert np.abs(out.astype(int) - photo).mean() > 20


def test_different_styles_and_blends_differ(photo):
    a = stylize(photo, StylizeOptions(style="starry-blue")).astype(int)
    b = stylize(photo, StylizeOptions(style="ink-comic")).astype(int)
    ab = stylize(photo, StylizeOptions(style="starry-blue:0.5,ink-comic:0.5")).astype(int)
    assert np.abs(a - b).mean() > 20
    assert np.abs(ab - a).mean() > 5 and np.abs(ab - b).mean() > 5


def test_strength_blends_toward_the_original(photo):
    full = stylize(photo, StylizeOptions(style="crimson")).astype(float)
    none = stylize(photo, StylizeOptions(style="crimson", strength=0.0))
    half = stylize(photo, StylizeOptions(style="crimson", strength=0.5)).astype(float)
    assert np.array_equal(none, photo)
    assert np.abs(half - (photo + full) / 2).max() <= 1.0


def test_arbitrary_strength_interpolates_in_style_space(photo, painting):
    full = stylize(photo, StylizeOptions(style_image=painting)).astype(float)
    weak = stylize(photo, StylizeOptions(style_image=painting, strength=0.2)).astype(float)
    d_full, d_weak = np.abs(full - photo).mean(), np.abs(weak - photo).mean()
    assert d_weak < d_full
    # not a pixel fade: a fade toward the photo would be 0.2 * full + 0.8 * photo
    assert np.abs(weak - (0.2 * full + 0.8 * photo)).mean() > 3


def test_preserve_colors_keeps_the_original_chroma(photo):
    out = stylize(photo, StylizeOptions(style="crimson", preserve_colors=True))
    plain = stylize(photo, StylizeOptions(style="crimson"))
    cb = np.array([-0.168736, -0.331264, 0.5], np.float32)
    chroma_err = np.abs(to_float(out) @ cb - to_float(photo) @ cb).mean()
    assert chroma_err < np.abs(to_float(plain) @ cb - to_float(photo) @ cb).mean() / 3
    assert np.abs(luma(out) - luma(plain)).mean() < 0.02


def test_scale_changes_texture_size_and_keeps_output_size(photo):
    base = stylize(photo, StylizeOptions(style="starry-blue"))
    big = stylize(photo, StylizeOptions(style="starry-blue", scale=2.0))
    assert big.shape == photo.shape
    # bigger strokes = less fine detail: lower gradient energy
    grad = lambda a: np.abs(np.diff(luma(a), axis=1)).mean()  # noqa: E731
    assert grad(big) < 0.8 * grad(base)


def test_mask_outside_pixels_are_bit_identical_and_grey_blends(photo):
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[100:300, 100:300] = 1.0
    mask[100:300, 300:400] = 0.5
    out = stylize(photo, StylizeOptions(style="crimson"), mask=mask)
    full = stylize(photo, StylizeOptions(style="crimson"))
    outside = mask == 0
    assert np.array_equal(out[outside], photo[outside])
    assert np.array_equal(out[100:300, 100:300], full[100:300, 100:300])
    half = out[100:300, 300:400].astype(float)
    assert np.abs(half - (photo[100:300, 300:400] + full[100:300, 300:400].astype(float)) / 2).max() <= 1.0


def test_empty_mask_and_wrong_mask_size_are_errors(photo):
    h, w = photo.shape[:2]
    with pytest.raises(SfumatoError, match="empty"):
        stylize(photo, StylizeOptions(style="crimson"), mask=np.zeros((h, w), np.float32))
    with pytest.raises(SfumatoError, match="mask is"):
        stylize(photo, StylizeOptions(style="crimson"), mask=np.ones((h, w + 1), np.float32))


def test_alpha_is_preserved_and_grey_stays_grey(photo):
    rgba = np.concatenate([photo, np.linspace(0, 255, photo.shape[1]).astype(np.uint8)[None, :, None]
                           .repeat(photo.shape[0], 0)], axis=2)
    out = stylize(rgba, StylizeOptions(style="crimson"))
    assert out.shape == rgba.shape and np.array_equal(out[..., 3], rgba[..., 3])
    grey = photo.mean(axis=2).astype(np.uint8)
    g = stylize(grey, StylizeOptions(style="crimson"))
    assert g.shape == grey.shape and np.abs(g.astype(int) - grey).mean() > 5


def test_uint16_and_float_inputs_keep_their_type(photo):
    p16 = photo.astype(np.uint16) * 257
    out16 = stylize(p16, StylizeOptions(style="crimson"))
    out8 = stylize(photo, StylizeOptions(style="crimson"))
    assert out16.dtype == np.uint16
    assert np.abs(out16 / 257.0 - out8).mean() < 0.5
    f = stylize(to_float(photo), StylizeOptions(style="crimson"))
    assert f.dtype == np.float32 and np.abs(f * 255 - out8).mean() < 0.5


def test_option_errors(photo, painting):
    with pytest.raises(SfumatoError, match="exactly one"):
        stylize(photo, StylizeOptions())
    with pytest.raises(SfumatoError, match="exactly one"):
        stylize(photo, StylizeOptions(style="crimson", style_image=painting))
    with pytest.raises(SfumatoError, match="strength"):
        stylize(photo, StylizeOptions(style="crimson", strength=1.5))
    with pytest.raises(SfumatoError, match="scale"):
        stylize(photo, StylizeOptions(style="crimson", scale=0.0))


def test_style_image_runs_at_full_output_resolution(painting):
    from PIL import Image
    from sfumato.imageio import read_image
    from tests.conftest import SAMPLES
    photo = np.asarray(Image.fromarray(read_image(SAMPLES / "coffee.jpg")).resize((1000, 872), Image.LANCZOS))
    out = stylize(photo, StylizeOptions(style_image=painting))
    assert out.shape == photo.shape
    # a 384 px result upscaled would have almost no energy at the finest scale; ours keeps it
    fine = lambda a: np.abs(np.diff(luma(a), axis=0)).mean() + np.abs(np.diff(luma(a), axis=1)).mean()  # noqa: E731
    small = np.asarray(Image.fromarray(out).resize((384, 335), Image.LANCZOS).resize((1000, 872), Image.LANCZOS))
    assert fine(out) > 1.5 * fine(small)


def _force_tiles(monkeypatch):
    real = st.stylize_tiled
    monkeypatch.setattr(st, "stylize_tiled", lambda *a, **k: real(*a, **{**k, "single_pass_pixels": 0}))


@pytest.mark.parametrize("option", [dict(style="starry-blue"), dict(style_image="painting")])
def test_tiled_matches_untiled_without_seams(monkeypatch, painting, option):
    from sfumato.imageio import read_image
    from tests.conftest import SAMPLES
    photo = read_image(SAMPLES / "coffee.jpg")  # 600 x 400
    if option.get("style_image"):
        option = dict(style_image=painting)
    whole = stylize(photo, StylizeOptions(**option)).astype(float)
    _force_tiles(monkeypatch)
    tiled = stylize(photo, StylizeOptions(**option, tile=192)).astype(float)
    assert np.abs(tiled - whole).mean() <= 2.0
    # seams: the jump across tile borders is no larger than across any other row/column
    from sfumato.styling.tiling import spans
    t, ov = 192, 64
    for axis, length in ((0, photo.shape[0]), (1, photo.shape[1])):
        jumps = np.abs(np.diff(tiled, axis=axis)).mean(axis=(1, 2) if axis == 0 else (0, 2))
        borders = {e for s, e in spans(length, t, ov)} | {s for s, e in spans(length, t, ov)}
        borders = sorted(b - 1 for b in borders if 0 < b < length)
        others = np.delete(jumps, borders)
        assert jumps[borders].max() <= others.max()


def test_large_image_uses_global_stats_not_per_tile(monkeypatch, photo):
    """With per-tile statistics, tiles of a very uneven picture would each get their own look."""
    _force_tiles(monkeypatch)
    uneven = photo.copy()
    uneven[:, : photo.shape[1] // 2] //= 4  # dark left half
    whole = stylize(uneven, StylizeOptions(style="ink-comic", tile=1024)).astype(float)
    tiled = stylize(uneven, StylizeOptions(style="ink-comic", tile=128)).astype(float)
    assert np.abs(tiled - whole).mean() <= 2.0


class _PerTileStats:
    """A network that ignores the shared statistics: each tile normalises itself (the naive tiling)."""

    def __init__(self, net):
        self.net = net

    def run(self, image, stats=None):
        return self.net.run(image, None)


def _tiled_with_thumbnail_stats(monkeypatch, photo, per_tile=False):
    """Tiles of 192 px and statistics from a 256 px thumbnail: the path every large image takes."""
    real = st.stylize_tiled

    def tiled(net, *a, **k):
        return real(_PerTileStats(net) if per_tile else net, *a,
                    **{**k, "single_pass_pixels": 0, "stats_side": 256, "tile": 192, "overlap": 64})
    with monkeypatch.context() as m:
        m.setattr(st, "stylize_tiled", tiled)
        return stylize(photo, StylizeOptions(style="ink-comic")).astype(float)


def _border_jump_ratio(tiled, whole):
    """Max over tile borders of (jump across that row/column when tiled) / (the same when untiled)."""
    from sfumato.styling.tiling import spans
    worst = 0.0
    for axis in (0, 1):
        length = tiled.shape[axis]
        borders = sorted({b - 1 for s, e in spans(length, 192, 64) for b in (s, e) if 0 < b < length})
        jt = np.abs(np.diff(tiled, axis=axis)).mean(axis=(1, 2) if axis == 0 else (0, 2))
        jw = np.abs(np.diff(whole, axis=axis)).mean(axis=(1, 2) if axis == 0 else (0, 2))
        worst = max(worst, float((jt[borders] / jw[borders]).max()))
    return worst


def test_no_seams_at_tile_borders_with_thumbnail_statistics(monkeypatch, photo):
    whole = stylize(photo, StylizeOptions(style="ink-comic")).astype(float)
    assert _border_jump_ratio(_tiled_with_thumbnail_stats(monkeypatch, photo), whole) <= 1.1
    # the same check catches the seams of per-tile statistics: it can fail
    assert _border_jump_ratio(_tiled_with_thumbnail_stats(monkeypatch, photo, per_tile=True), whole) > 1.1


def test_frames_share_one_set_of_statistics(photo):
    """stylize_frames: every frame normalised with the same statistics (the frames' mean), so a
    darker frame stays darker instead of being normalised back, and the frames' order does not matter."""
    from sfumato.styling.pipeline import StylizeOptions, stylize, stylize_frames
    options = StylizeOptions(style="starry-blue")
    dark = (photo.astype(np.float32) * 0.5).astype(np.uint8)
    alone = stylize_frames([photo], options)[0]
    # one frame: its own statistics, as a plain stylize takes them
    assert np.abs(alone.astype(int) - stylize(photo, options).astype(int)).max() <= 1
    a, b = stylize_frames([photo, dark], options)
    b2, a2 = stylize_frames([dark, photo], options)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    per_frame = [stylize(photo, options), stylize(dark, options)]
    # per-frame statistics normalise the brightness change away; shared ones keep it
    shared_gap = a.astype(float).mean() - b.astype(float).mean()
    own_gap = per_frame[0].astype(float).mean() - per_frame[1].astype(float).mean()
    assert shared_gap > 2 * own_gap and shared_gap > 10
    assert a.dtype == photo.dtype and a.shape == photo.shape
