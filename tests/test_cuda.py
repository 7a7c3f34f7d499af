"""On a GPU machine (bench/gpu_check.sh): the CUDA path gives the CPU's result. Skipped where CUDA
does not work, which is every CI machine; `sfumato doctor` says why."""
import numpy as np
import pytest

from sfumato.runtime import sessions

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not sessions.cuda_status()[0], reason=f"no CUDA: {sessions.cuda_status()[1]}")]


def test_stylize_on_cuda_matches_the_cpu(photo):
    from sfumato.styling.pipeline import StylizeOptions, stylize
    cpu = stylize(photo, StylizeOptions(style="7", device="cpu")).astype(float)
    cuda = stylize(photo, StylizeOptions(style="7", device="cuda")).astype(float)
    assert np.abs(cpu - cuda).mean() < 0.5 and np.abs(cpu - cuda).max() <= 8


def test_inpaint_on_cuda_matches_the_cpu(photo):
    from sfumato.inpainting.pipeline import InpaintOptions, inpaint
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[150:250, 250:350] = 1
    cpu = inpaint(photo, mask, InpaintOptions(device="cpu")).astype(float)
    cuda = inpaint(photo, mask, InpaintOptions(device="cuda")).astype(float)
    assert np.abs(cpu - cuda).mean() < 0.5


def test_cuda_sessions_really_run_on_cuda():
    assert sessions.session("styles", "cuda").get_providers()[0] == "CUDAExecutionProvider"


@pytest.mark.parametrize("precision_case", ["stylize", "inpaint"])
def test_fp16_variants_on_cuda_stay_within_1_255_of_fp32(photo, monkeypatch, precision_case):
    from sfumato.inpainting.pipeline import InpaintOptions, inpaint
    from sfumato.styling.pipeline import StylizeOptions, stylize
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[150:250, 250:350] = 1
    run = (lambda: stylize(photo, StylizeOptions(style="7", device="cuda"))) if precision_case == "stylize" else \
        (lambda: inpaint(photo, mask, InpaintOptions(device="cuda")))
    fp32 = run().astype(float)
    monkeypatch.setenv("SFUMATO_PRECISION", "fp16")
    fp16 = run().astype(float)
    assert np.abs(fp16 - fp32).mean() <= 1.0
