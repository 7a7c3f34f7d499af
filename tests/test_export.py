"""The export path: our PyTorch modules vs the ONNX we ship, and vs the original models."""
import json

import numpy as np
import onnx
import pytest

import torch  # noqa: E402  (the export extra; a missing torch must fail, not skip)
pytestmark = pytest.mark.torch

from sfumato.runtime.manifest import SHIPPED_DIR  # noqa: E402
from sfumato.export import importers, source  # noqa: E402
from sfumato.export.nets.norm import stats_size  # noqa: E402
from sfumato.export.onnx_export import run_onnx  # noqa: E402

MANIFEST = json.loads((SHIPPED_DIR / "manifest.json").read_text())["models"]


@pytest.fixture(scope="module")
def nets():
    from sfumato.export.style_table import SHIPPED_STYLES, assemble
    return {"styles": assemble([SHIPPED_STYLES])[0],
            "arbitrary_predict": importers.import_predictor(source.load_original("arbitrary_predict")),
            "arbitrary_transform": importers.import_transformer(source.load_original("arbitrary_transform"))}


def _photo(h, w):
    from sfumato.export.cin_export import sample_photo as _photo
    return _photo(h, w)


@pytest.mark.parametrize("size", [(64, 64), (100, 148)])
def test_style_table_module_matches_shipped_onnx(nets, size):
    net = nets["styles"]
    x = _photo(*[s // 4 * 4 for s in size])
    w = np.zeros(net.n_styles, np.float32)
    w[[3, net.n_styles - 1]] = 0.5
    feeds = {"image": x, "style_weights": w, "norm_stats": np.zeros(stats_size(net), np.float32),
             "stats_mix": np.zeros(1, np.float32)}
    with torch.no_grad():
        ref, ref_stats = net(*[torch.from_numpy(v) for v in feeds.values()])
    got, got_stats = run_onnx(SHIPPED_DIR / "styles.onnx", feeds)
    assert np.abs(ref.numpy() - got).max() <= 1e-4
    assert np.allclose(ref_stats.numpy(), got_stats, rtol=1e-3, atol=1e-3)
    # given stats are honoured: feeding the stats back with mix=1 reproduces the same image
    again = run_onnx(SHIPPED_DIR / "styles.onnx", {**feeds, "norm_stats": got_stats,
                                                      "stats_mix": np.ones(1, np.float32)})[0]
    assert np.abs(again - got).max() <= 1e-4


def test_imported_styles_match_the_original_model(nets):
    x = _photo(128, 160)
    n = nets["styles"].n_styles
    for i in (0, 7, 19, 25):
        w = np.eye(n, dtype=np.float32)[i]
        ref = run_onnx(source.wheel_model_bytes("multistyle26"), {"image": x, "style_weights": w[:26]})[0]
        ours = run_onnx(SHIPPED_DIR / "styles.onnx", {"image": x, "style_weights": w,
                                                      "norm_stats": np.zeros(MANIFEST["styles"]["stats_size"], np.float32),
                                                      "stats_mix": np.zeros(1, np.float32)})[0]
        assert np.abs(ref - ours).mean() <= 1 / 255


def test_arbitrary_pair_matches_shipped_onnx_and_runs_at_any_size(nets):
    pred, tr = nets["arbitrary_predict"], nets["arbitrary_transform"]
    s = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    with torch.no_grad():
        vec = pred(torch.from_numpy(s)).numpy()
    assert np.abs(run_onnx(SHIPPED_DIR / "arbitrary_predict.onnx", {"style_image": s})[0] - vec).max() <= 1e-4
    n = stats_size(tr)
    for h, w in ((96, 96), (200, 328)):  # dynamic H and W, not the original's fixed 384
        x = _photo(h, w)
        feeds = {"image": x, "style": vec, "norm_stats": np.zeros(n, np.float32), "stats_mix": np.zeros(1, np.float32)}
        with torch.no_grad():
            ref = tr(*[torch.from_numpy(v) for v in feeds.values()])[0].numpy()
        got = run_onnx(SHIPPED_DIR / "arbitrary_transform.onnx", feeds)[0]
        assert got.shape == (1, 3, h, w) and np.abs(ref - got).max() <= 1e-4


def test_arbitrary_pair_is_close_to_the_int8_original(nets):
    """The original runs with int8 activation fake-quant, which we drop; the figure goes in the manifest."""
    assert MANIFEST["arbitrary_predict"]["original_vs_ours"]["style_vector_mean_abs"] < 0.05
    assert MANIFEST["arbitrary_transform"]["original_vs_ours"]["mean_abs_0_1"] < 20 / 255


def test_shipped_models_carry_metadata_and_dynamic_sizes():
    for name, entry in MANIFEST.items():
        model = onnx.load(str(SHIPPED_DIR / entry["file"]))
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["name"] == name and meta["licence"] == entry["licence"] and meta["task"] == entry["task"]
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
        assert entry["built_by"].startswith("python -m sfumato.export ") and len(entry["sha256"]) == 64
        if entry["task"] == "stylize":
            dims = model.graph.input[0].type.tensor_type.shape.dim
            assert [d.dim_param for d in dims[2:]] == ["h", "w"]
    assert "Apache License 2.0" in (SHIPPED_DIR / "NOTICE").read_text()


def test_build_is_reproducible(tmp_path):
    """`python -m sfumato.export build styles` rebuilds byte-identical files to those shipped."""
    from sfumato.export.build import build_styles
    build_styles(tmp_path)
    rebuilt = json.loads((tmp_path / "manifest.json").read_text())["models"]
    for name in ("styles", "arbitrary_predict", "arbitrary_transform", "styles.fp16", "arbitrary_transform.fp16"):
        assert rebuilt[name]["sha256"] == MANIFEST[name]["sha256"], name


@pytest.mark.parametrize("size", [(2, 2), (6, 10), (12, 4)])
def test_pad_free_stride2_conv_exports_exactly(tmp_path, size):
    """The exported form of reflect pad + 3x3 stride-2 conv (zero-padded conv + border fix) gives
    the same numbers as PyTorch's reflect form at any even size, corners included."""
    from sfumato.export.nets.fastconv import reflect_conv3_s2

    class Conv(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(5, 3, 3, 3, generator=torch.Generator().manual_seed(0)))

        def forward(self, x):
            return reflect_conv3_s2(x, self.w)

    net, path = Conv(), tmp_path / "conv.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 8, 8),), str(path), input_names=["x"], opset_version=17,
                      dynamic_axes={"x": {2: "h", 3: "w"}}, dynamo=False)
    assert "Pad" not in {n.op_type for n in onnx.load(str(path)).graph.node if "x" in n.input}
    x = np.random.default_rng(1).random((1, 3, *size), dtype=np.float32)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.from_numpy(x), [1] * 4, mode="reflect"),
                                         net.w, stride=2).numpy()
    got = run_onnx(path, {"x": x})[0]
    assert got.shape == ref.shape == (1, 5, size[0] // 2, size[1] // 2)
    assert np.abs(got - ref).max() <= 1e-5


def test_exported_norm_is_a_depthwise_conv_with_the_instance_norm_result(tmp_path):
    """The norm exports as statistics (ReduceMean, a batched MatMul for the sums of squares) + one
    depthwise 1x1 Conv (no BatchNormalization) with the ReLU directly after it, and gives instance
    norm's numbers."""
    from sfumato.export.nets.norm import NormContext, StatsNorm

    class Norm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = StatsNorm(4)
            self.gamma = torch.nn.Parameter(torch.tensor([1.0, -0.5, 2.0, 0.3]))
            self.beta = torch.nn.Parameter(torch.tensor([0.1, 0.0, -1.0, 0.5]))

        def forward(self, x):
            ctx = NormContext(torch.zeros(8), torch.zeros(1))
            return torch.relu(self.norm(x, ctx, self.gamma, self.beta)), ctx.stats()

    net, path = Norm().eval(), tmp_path / "norm.onnx"
    torch.onnx.export(net, (torch.rand(1, 4, 8, 8),), str(path), input_names=["x"], opset_version=17,
                      dynamic_axes={"x": {2: "h", 3: "w"}}, dynamo=False)
    nodes = onnx.load(str(path)).graph.node
    assert "BatchNormalization" not in {n.op_type for n in nodes}
    conv = next(n for n in nodes if n.op_type == "Conv")
    assert {a.name: a.i for a in conv.attribute}["group"] == 4
    assert next(n for n in nodes if conv.output[0] in n.input).op_type == "Relu"
    assert {"ReduceMean", "MatMul"} <= {n.op_type for n in nodes}
    x = np.random.default_rng(2).normal(3.0, 2.0, (1, 4, 10, 14)).astype(np.float32)
    ref = torch.relu(torch.nn.functional.instance_norm(torch.from_numpy(x), weight=net.gamma.detach(),
                                                       bias=net.beta.detach(), eps=1e-5)).numpy()
    got, stats = run_onnx(path, {"x": x})
    assert np.abs(got - ref).max() <= 1e-4
    assert np.allclose(stats[:4], x.mean(axis=(0, 2, 3)), atol=1e-5)
    assert np.allclose(stats[4:], x.var(axis=(0, 2, 3)), rtol=1e-4)


# --- fp16 variants for CUDA (export/fp16.py) ---------------------------------------------------------

VARIANTS = {name: entry for name, entry in MANIFEST.items() if "variant_of" in entry}


def test_every_variant_is_a_recorded_fp16_copy_of_the_shipped_model():
    from sfumato.export.fp16 import VARIANTS as BUILT
    from sfumato.runtime.manifest import sha256_file
    assert sorted(VARIANTS) == sorted(f"{n}.fp16" for n in BUILT)
    for name, entry in VARIANTS.items():
        base = MANIFEST[entry["variant_of"]]
        assert entry["of_sha256"] == base["sha256"], f"{name} was built from another {entry['variant_of']}"
        assert sha256_file(SHIPPED_DIR / entry["file"]) == entry["sha256"]
        assert entry["licence"] == base["licence"] and entry["built_by"].startswith("python -m sfumato.export build")
        meta = {p.key: p.value for p in onnx.load(str(SHIPPED_DIR / entry["file"])).metadata_props}
        assert meta["name"] == name and meta["precision"] == "fp16"


@pytest.mark.parametrize("name", ["styles", "arbitrary_transform", "sfumato-inpaint"])
def test_fp16_variant_parity_and_the_statistics_stay_fp32(name):
    """The parity check: the shipped fp16 graph within 1/255 (mean) of its fp32 graph on the bundled
    photo. And the sums over a whole picture (ReduceMean, the sum-of-squares MatMul) read fp32: in
    fp16 they overflow (1e7-1e8 at 1024 px, fp16 ends at 65504)."""
    from onnx import TensorProto, shape_inference

    from sfumato.export.fp16 import parity_feeds
    path = SHIPPED_DIR / f"{name}.fp16.onnx"
    feeds = parity_feeds(name, SHIPPED_DIR)
    d = np.abs(run_onnx(path, feeds)[0] - run_onnx(SHIPPED_DIR / f"{name}.onnx", feeds)[0])
    assert d.mean() * 255 <= 1.0 and d.max() * 255 < 8
    g = shape_inference.infer_shapes(onnx.load(str(path))).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.value_info) + list(g.input)}
    types |= {i.name: i.data_type for i in g.initializer}
    assert sum(n.op_type == "Conv" and types.get(n.input[1]) == TensorProto.FLOAT16 for n in g.node) >= 10
    for n in g.node:
        if n.op_type in ("ReduceMean", "MatMul", "Einsum", "ScatterND"):
            assert all(types.get(i) != TensorProto.FLOAT16 for i in n.input), n.name


def test_fp16_runs_only_on_cuda_when_asked_and_only_with_its_own_model(monkeypatch, tmp_path):
    from sfumato.runtime import manifest, sessions
    styles = manifest.get_model("styles")
    cuda, cpu = "CUDAExecutionProvider", "CPUExecutionProvider"
    assert sessions.session_model(styles, cuda) == styles  # fp32 by default
    monkeypatch.setenv("SFUMATO_PRECISION", "fp16")
    assert sessions.session_model(styles, cuda).path.name == "styles.fp16.onnx"
    assert sessions.session_model(styles, cpu) == styles
    assert "styles.fp16" not in manifest.all_models()  # a variant is no model (or style table) of its own
    from sfumato.styling.styles import style_table
    assert len({s["name"] for s in style_table()}) == len(style_table())
    # a user's own style table (another file) never runs with the shipped table's variant
    mine = manifest.ModelInfo("styles", tmp_path / "styles.onnx", {**styles.entry, "sha256": "0" * 64})
    assert sessions.session_model(mine, cuda) == mine
    monkeypatch.setenv("SFUMATO_PRECISION", "fp8")
    with pytest.raises(manifest.SfumatoError, match="SFUMATO_PRECISION"):
        sessions.session_model(styles, cuda)
