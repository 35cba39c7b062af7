"""The ONNX export: a trained model's weights written into a lean inference graph.

The graph is built node by node rather than converted from TensorFlow, for speed at batch size 1:
- no padding mask: the service runs texts of one length together, unpadded (`Model.infer`), so
  every position is a real token and the masks the training graph needs are all ones;
- the projection is per token, so `relu(E @ W + b)` is precomputed into a table and becomes one
  Gather;
- the dilated convolutions run as 2-D convolutions over [batch, channels, 1, tokens], which ONNX
  Runtime executes with its blocked (NCHWc) kernels.

`export_onnx` checks the graph against the Keras model before it writes anything.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .model import ModelConfig

OPSET = 17
TOLERANCE = 1e-4  # largest allowed difference in any probability between Keras and ONNX


def lean_graph(model, config: ModelConfig):
    """The ONNX model computing `model`'s outputs for unpadded token ids [B, T]."""
    from onnx import TensorProto, checker, helper, numpy_helper

    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    initializers, nodes = [], []

    def const(name: str, value) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    [table] = weights["embeddings"]
    project_w, project_b = weights["project"]
    emb = node("Gather", [const("embeddings", table), "token_ids"], "emb")
    projected = np.maximum(table @ project_w + project_b, 0).astype(np.float32)
    x = node("Gather", [const("projected", projected), "token_ids"], "x_0")
    x = node("Unsqueeze", [node("Transpose", [x], "x_cf", perm=[0, 2, 1]), const("axis_2", [2])], "x_4d")
    for i, d in enumerate(config.dilations):
        kernel, bias = weights[f"conv{i}"]  # Keras: [K, C_in, C_out]; ONNX: [C_out, C_in, 1, K]
        kernel = np.ascontiguousarray(kernel.transpose(2, 1, 0)[:, :, None, :])
        pad = d * (config.kernel_size - 1) // 2
        h = node("Conv", [x, const(f"conv{i}_w", kernel), const(f"conv{i}_b", bias)], f"conv{i}",
                 kernel_shape=[1, config.kernel_size], dilations=[1, d], pads=[0, pad, 0, pad])
        x = node("Add", [x, node("Relu", [h], f"conv{i}_relu")], f"res{i}")
    x = node("Transpose", [node("Squeeze", [x, "axis_2"], "x_3d")], "x_cl", perm=[0, 2, 1])
    features = node("Concat", [x, emb], "features", axis=-1)
    pooled = node("Concat", [node("ReduceMean", [features], "mean", axes=[1], keepdims=0),
                             node("ReduceMax", [features], "max", axes=[1], keepdims=0)], "pooled", axis=-1)
    intent_w, intent_b = weights["intent"]
    tags_w, tags_b = weights["tags"]
    node("Softmax", [node("Gemm", [pooled, const("intent_w", intent_w), const("intent_b", intent_b)], "intent_logits")],
         "intent", axis=-1)
    tag_logits = node("Add", [node("MatMul", [features, const("tags_w", tags_w)], "tags_mm"), const("tags_b", tags_b)],
                      "tag_logits")
    node("Softmax", [tag_logits], "tags", axis=-1)
    graph = helper.make_graph(
        nodes, "switchboard_nlu",
        [helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["batch", "tokens"])],
        [helper.make_tensor_value_info("intent", TensorProto.FLOAT, ["batch", intent_w.shape[1]]),
         helper.make_tensor_value_info("tags", TensorProto.FLOAT, ["batch", "tokens", tags_w.shape[1]])],
        initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    checker.check_model(proto)
    return proto


def check_same_outputs(model, proto, vocab_size: int, seed: int = 0) -> None:
    """Raise unless the ONNX graph gives the Keras model's probabilities on random texts."""
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    for length in (1, 2, 7, 30):
        ids = rng.integers(1, vocab_size, size=(3, length), dtype=np.int32)
        expected = [np.asarray(t) for t in model(ids, training=False)]
        got = session.run(["intent", "tags"], {"token_ids": ids})
        worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
        if worst > TOLERANCE:
            raise RuntimeError(f"ONNX export differs from the Keras model by {worst:.2e} at {length} tokens")


def export_onnx(model, config: ModelConfig, path: Path) -> None:
    proto = lean_graph(model, config)
    check_same_outputs(model, proto, model.get_layer("embeddings").input_dim)
    write_onnx(proto, path)


def write_onnx(proto, path: Path, align: int = 65536) -> None:
    """Save with the weights in `<name>.data`, each tensor at an `align`-byte offset.

    ONNX Runtime memory-maps aligned external weights instead of copying them out of the
    protobuf: a 480 MB model's session starts in milliseconds instead of seconds
    (bench/startup.py).
    """
    from onnx import TensorProto, save

    data_name = path.name + ".data"
    with open(path.with_name(data_name), "wb") as f:
        for tensor in proto.graph.initializer:
            if len(tensor.raw_data) < 1024:
                continue
            f.write(b"\0" * (-f.tell() % align))
            offset = f.tell()
            f.write(tensor.raw_data)
            del tensor.external_data[:]
            for key, value in (("location", data_name), ("offset", offset), ("length", len(tensor.raw_data))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, str(value)
            tensor.data_location = TensorProto.EXTERNAL
            tensor.ClearField("raw_data")
    save(proto, str(path))
