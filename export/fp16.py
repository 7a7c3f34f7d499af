"""fp16 variants of the shipped graphs, for CUDA: the convolutions and the elementwise work on their
outputs in half precision, everything that sums over a whole picture in fp32.

Why not onnxruntime's own converter (onnxruntime.transformers.float16): on these graphs it casts the
normalisation's sums of squares (1e7-1e8 at 1024 px, over fp16's 65504) and the pixel count to fp16,
and writes duplicate Cast nodes where a tensor feeds two kept ops: the result is NaN. Here the rule
is the other way round: a node runs in fp16 only when it is a convolution, or a cheap elementwise op
all of whose float inputs are already fp16 (so precision flows forward from the convolutions and
never into the statistics), and one Cast per tensor joins the two halves. Inputs and outputs stay
fp32, so the core's adapters run either graph unchanged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HALF_OPS = {"Conv"}  # where fp16 starts: tensor-core work on a GPU
FOLLOW_OPS = {"Relu", "Add", "Mul", "Sub", "Sigmoid", "Clip", "Pad", "DepthToSpace", "SpaceToDepth", "Concat",
              "Slice", "Transpose", "Reshape", "Resize", "MaxPool", "AveragePool", "Neg", "Tanh", "LeakyRelu"}
DATA_INPUTS = {"Resize": 1}  # ops whose later float inputs (roi, scales) stay fp32 whatever the data's type
FLOAT = TensorProto.FLOAT


def to_fp16(src: Path, dst: Path, name: str | None = None) -> dict:
    """Write the fp16 variant of `src` to `dst` (its metadata named `name`); returns counts of the
    nodes in each precision."""
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key == "name" and name:
            prop.value = name
    model.metadata_props.add(key="precision", value="fp16")
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    half: set[str] = set()           # tensors that are fp16
    float_tensors = _float_tensors(model)
    casts: dict[tuple[str, int], str] = {}  # (tensor, to) -> the cast tensor's name
    half_inits: dict[str, str] = {}
    new_nodes, counts = [], {"fp16": 0, "fp32": 0}

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            out = f"{name}__to_{'fp16' if to == TensorProto.FLOAT16 else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=f"{out}__cast"))
            casts[key] = out
        return casts[key]

    def half_constant(name: str) -> str:
        if name not in half_inits:
            value = numpy_helper.to_array(inits[name]) if name in inits else \
                numpy_helper.to_array(constants[name].attribute[0].t)
            init = numpy_helper.from_array(value.astype(np.float16), f"{name}__fp16")
            graph.initializer.append(init)
            half_inits[name] = init.name
        return half_inits[name]

    def is_constant(name: str) -> bool:
        return name in inits or (name in constants and constants[name].attribute[0].name == "value")

    for node in list(graph.node):
        floats = [i for i in node.input[:DATA_INPUTS.get(node.op_type, len(node.input))] if i in float_tensors]
        activations = [i for i in floats if not is_constant(i)]
        fp16 = node.op_type in HALF_OPS or (node.op_type in FOLLOW_OPS and activations and
                                           all(i in half for i in activations))
        if node.op_type == "Constant" or not floats:
            new_nodes.append(node)
            continue
        for k, name in enumerate(node.input):
            if name not in float_tensors or (fp16 and k >= DATA_INPUTS.get(node.op_type, len(node.input))):
                continue
            if fp16:
                node.input[k] = half_constant(name) if is_constant(name) else (name if name in half else
                                                                               cast(name, TensorProto.FLOAT16))
            elif name in half:
                node.input[k] = cast(name, FLOAT)
        new_nodes.append(node)
        counts["fp16" if fp16 else "fp32"] += 1
        if fp16:
            half.update(o for o in node.output if o in float_tensors)
    _outputs_stay_fp32(graph, new_nodes, half)
    del graph.node[:]
    graph.node.extend(_topological(new_nodes, {i.name for i in graph.input} | set(inits) | set(half_inits.values())))
    _drop_unused(graph)
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return counts


def _outputs_stay_fp32(graph, nodes: list, half: set[str]) -> None:
    """A graph output made in fp16: its producer writes NAME__fp16 and a Cast writes NAME in fp32."""
    for name in {o.name for o in graph.output} & half:
        for node in nodes:
            node.output[:] = [f"{name}__fp16" if o == name else o for o in node.output]
            node.input[:] = [f"{name}__fp16" if i == name else i for i in node.input]
        nodes.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=FLOAT, name=f"{name}__cast"))


def _drop_unused(graph) -> None:
    """Constants and initializers nothing reads any more (their fp16 copies replaced them), and the
    stale type annotations (onnxruntime infers the types again)."""
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for n in [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        graph.node.remove(n)
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    del graph.value_info[:]


def _float_tensors(model) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    names = {v.name for v in list(g.value_info) + list(g.input) + list(g.output)
             if v.type.tensor_type.elem_type == FLOAT}
    names |= {i.name for i in g.initializer if i.data_type == FLOAT}
    names |= {n.output[0] for n in g.node if n.op_type == "Constant" and n.attribute[0].t.data_type == FLOAT}
    return names


def _topological(nodes, available: set[str]) -> list:
    """Cast nodes were appended where first needed; put every node after what it reads."""
    done, ordered, pending = set(available), [], list(nodes)
    while pending:
        rest = []
        for n in pending:
            if all(i in done or i == "" for i in n.input):
                ordered.append(n)
                done.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError(f"fp16 graph has a cycle or a missing input at {rest[0].name}")
        pending = rest
    return ordered


# --- the shipped variants ----------------------------------------------------------------------

VARIANTS = ("styles", "arbitrary_transform", "sfumato-inpaint")  # the style predictor runs once, at 256 px: fp32
PARITY_MEAN = 1 / 255  # mean |d| of the output pixels, fp16 variant vs its fp32 graph


def parity_feeds(name: str, models_dir: Path) -> dict[str, np.ndarray]:
    """The bundled photo at 384 x 512 with what each network needs beside it."""
    from .cin_export import sample_photo
    from .onnx_export import run_onnx
    x = sample_photo(384, 512)
    entry = _manifest(models_dir)[name]
    if name == "sfumato-inpaint":
        m = np.zeros((1, 1, 384, 512), np.float32)
        m[..., 120:260, 180:360] = 1
        return {"image": x, "mask": m}
    stats = {"norm_stats": np.zeros(entry["stats_size"], np.float32), "stats_mix": np.zeros(1, np.float32)}
    if name == "arbitrary_transform":
        square = np.ascontiguousarray(sample_photo(256, 256).transpose(0, 2, 3, 1))
        return {"image": x, "style": run_onnx(models_dir / "arbitrary_predict.onnx", {"style_image": square})[0], **stats}
    return {"image": x, "style_weights": np.eye(len(entry["styles"]), dtype=np.float32)[7], **stats}


def fp16_vs_fp32(name: str, models_dir: Path, path16: Path) -> dict:
    """Mean and max |d| of the output pixels (/255), fp16 vs fp32 on onnxruntime's CPU provider, which
    runs the fp16 convolutions on fp16-rounded weights and activations. Raises over PARITY_MEAN."""
    from .onnx_export import run_onnx
    feeds = parity_feeds(name, models_dir)
    ref = run_onnx(models_dir / f"{name}.onnx", feeds)[0]
    got = run_onnx(path16, feeds)[0]
    d = np.abs(ref - got)
    result = {"mean_abs_255": round(float(d.mean()) * 255, 4), "max_abs_255": round(float(d.max()) * 255, 3),
              "on": "onnxruntime CPU, the bundled photo at 512x384"}
    if not d.mean() <= PARITY_MEAN:
        raise AssertionError(f"{name} fp16 drifts from fp32: mean |d| {d.mean() * 255:.3f}/255 > 1/255")
    return result


def build_fp16(models_dir: Path, names=VARIANTS) -> None:
    """NAME.fp16.onnx beside each NAME.onnx, parity-checked, recorded as a variant of the fp32 model
    (with its sha256: a rebuilt or replaced fp32 model never runs with a stale variant)."""
    from sfumato import atomic
    from .onnx_export import build_command, update_manifest
    from sfumato.errors import SfumatoError
    for name in names:
        base = _manifest(models_dir).get(name)
        if base is None:
            raise SfumatoError(f"no {name} model in {models_dir / 'manifest.json'} to make an fp16 variant of; build "
                               f"it first (python -m sfumato.export build {'inpaint' if 'inpaint' in name else 'styles'})")
        path = models_dir / f"{name}.fp16.onnx"
        with atomic.replacing(path) as tmp:
            counts = to_fp16(models_dir / base["file"], Path(tmp), f"{name}.fp16")
            parity = fp16_vs_fp32(name, models_dir, Path(tmp))
        # what a listing shows; everything else (styles, sizes, I/O) is read from the fp32 model's entry
        keep = {k: base[k] for k in ("task", "kind", "licence", "source") if k in base}
        update_manifest(f"{name}.fp16", models_dir=models_dir, entry={
            **keep, "file": path.name, "variant_of": name, "precision": "fp16", "of_sha256": base["sha256"],
            "built_by": build_command(),
            "nodes": counts, "parity_vs_fp32": parity})
        print(f"{name}.fp16: {counts['fp16']} nodes in fp16, {counts['fp32']} in fp32; vs fp32 mean |d| "
              f"{parity['mean_abs_255']}/255, max {parity['max_abs_255']}/255")


def _manifest(models_dir: Path) -> dict:
    from sfumato.runtime.manifest import read_manifest
    return read_manifest(models_dir)
