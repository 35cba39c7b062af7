"""An artifact's Keras models, loaded for inference: the serving contract's `keras` runtime
(`nlu.artifact.load_model(folder, KERAS)`) and the benchmarks' baselines.

It lives on the training side because it needs TensorFlow and the models' custom layers; the
serving image has neither and serves the ONNX graphs. The fast tier is `model.h5` (the whole
model); the transformer tier is `transformer.h5` (its weights), built again from the metadata.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from nlu.artifact import FAST, KERAS_FILE, TRANSFORMER, TRANSFORMER_KERAS, Runtime

from .layers import CUSTOM_OBJECTS


def load_keras_model(folder: str | Path) -> tf.keras.Model:
    return tf.keras.models.load_model(Path(folder) / KERAS_FILE, custom_objects=CUSTOM_OBJECTS, compile=False)


def load_transformer(folder: str | Path, metadata: dict) -> tf.keras.Model:
    from .transformer import TransformerConfig, build

    settings = metadata.get("transformer") or {}
    model = build(TransformerConfig(layers=int(settings.get("layers", 6)), head_scale=float(settings.get(
        "head_scale", 0.0))), len(metadata["intents"]), len(metadata["tags"]))
    model.load_weights(Path(folder) / TRANSFORMER_KERAS)
    return model


def _tier(folder: Path, tier: str, metadata: dict):
    """The tier's Keras model as one compiled graph with a fixed input signature (never `predict`)."""
    model = load_keras_model(folder) if tier == FAST else load_transformer(folder, metadata)
    graph = tf.function(lambda ids: model(ids, training=False), input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def run(ids: np.ndarray):
        out = graph(tf.constant(ids))
        if tier == FAST:
            intent, tags = out
            return intent.numpy(), tags.numpy(), None
        return out["intent"].numpy(), out["tags"].numpy(), out["features"].numpy()

    return run


KERAS = Runtime("keras", {FAST: (KERAS_FILE,), TRANSFORMER: (TRANSFORMER_KERAS,)}, _tier)
