"""The preview of the GIMP dialogs: a region of the stylized layer, made with only the work it needs and
the whole layer's statistics, equals that region of the final result, bit for bit; the worker answers
a request for a region with it. (No GIMP needed.)"""
import numpy as np
import pytest

from sfumato.errors import SfumatoError
from sfumato.styling.pipeline import StylizeOptions, stylize, stylize_region

@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    """Each test starts with no network answers kept from another."""
    from sfumato.styling import pipeline
    monkeypatch.setattr(pipeline, "PREVIEW_MEMORY", pipeline.NetMemory())


REGIONS = [(200, 120, 256, 160), (536, 336, 64, 64)]


@pytest.mark.parametrize("options", [
    {"style": "starry-blue"},                                    # one pass over the whole layer
    {"style": "starry-blue", "scale": 1.5, "tile": 128},          # tiles, with the statistics of the whole
    {"style": "crimson:0.5,ink-comic:0.5", "tile": 128, "scale": 2.0, "strength": 0.6, "preserve_colors": True},
])
def test_a_region_equals_that_region_of_the_whole_result(photo, options):
    o = StylizeOptions(**options)
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[60:340, 100:500] = 1.0
    mask[100:300, 140:460] = 0.5
    for m in (None, mask):
        whole = stylize(photo, o, mask=m)
        for x, y, w, h in REGIONS:
            part = stylize_region(photo, o, (x, y, w, h), mask=m)
            assert part.shape == (h, w, 3) and part.dtype == photo.dtype
            assert np.array_equal(part, whole[y:y + h, x:x + w]), (options, (x, y, w, h), m is None)


@pytest.fixture
def network_runs(monkeypatch) -> list:
    """One entry per run of the style network while the test lasts."""
    from sfumato.styling import adapter
    runs = []
    real = adapter.NormStatsAdapter.run

    def counting(self, *a, **k):
        runs.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(adapter.NormStatsAdapter, "run", counting)
    return runs


def test_a_region_runs_only_the_tiles_that_reach_it(photo, network_runs):
    """Fewer network runs than the whole (otherwise a preview would cost a whole stylize)."""
    runs = network_runs
    o = StylizeOptions(style="starry-blue", scale=1.5, tile=128)
    stylize(photo, o)
    whole = len(runs)
    runs.clear()
    stylize_region(photo, o, (0, 0, 64, 64))
    assert 1 < len(runs) <= whole // 3, (len(runs), whole)


def test_a_strength_change_needs_no_new_network_run(photo, network_runs):
    """The worker keeps the network's answers for previews: the next preview at another strength or
    with the colours kept is only the blending, and still equals the final result there."""
    runs = network_runs
    region = (100, 50, 320, 320)
    stylize_region(photo, StylizeOptions(style="crimson", tile=256, scale=1.25), region)
    assert runs
    for changed in ({"strength": 0.4}, {"preserve_colors": True}):
        o = StylizeOptions(style="crimson", tile=256, scale=1.25, **changed)
        runs.clear()
        part = stylize_region(photo, o, region)
        assert not runs, changed
        whole = stylize(photo, o)
        assert np.array_equal(part, whole[50:370, 100:420]), changed
    runs.clear()
    stylize_region(photo, StylizeOptions(style="starry-blue", tile=256, scale=1.25), region)
    assert runs  # another style is another network: it runs


def test_a_region_outside_the_image_is_refused(photo):
    with pytest.raises(SfumatoError, match="not inside"):
        stylize_region(photo, StylizeOptions(style="starry-blue"), (550, 0, 100, 100))


def test_the_worker_answers_a_region(photo):
    """The job layer the worker and the server share (core/service/jobs.py)."""
    from sfumato.runtime.job import Job
    from sfumato.service import jobs
    header = {"options": {"style": "starry-blue", "scale": 1.5, "tile": 128}, "region": [200, 120, 256, 160]}
    part = jobs.run("stylize", header, {"image": photo}, Job())
    part = part[0] if isinstance(part, list) else part
    whole = stylize(photo, StylizeOptions(style="starry-blue", scale=1.5, tile=128))
    assert np.array_equal(part, whole[120:280, 200:456])
