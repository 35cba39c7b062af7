"""An artifact's Keras model (`model.h5`), loaded for inference: the serving contract's `keras`
runtime (`nlu.artifact.load_model(folder, "keras")`) and the benchmarks' baselines.

It lives on the training side because it needs TensorFlow and the model's custom layers; the
serving image has neither and serves the ONNX graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from nlu.artifact import KERAS_FILE, Runtime

from .layers import CUSTOM_OBJECTS


def load_keras_model(folder: str | Path) -> tf.keras.Model:
    return tf.keras.models.load_model(Path(folder) / KERAS_FILE, custom_objects=CUSTOM_OBJECTS, compile=False)


def keras_runtime(folder: Path) -> Runtime:
    """The Keras model as one compiled graph with a fixed input signature (never `predict`)."""
    model = load_keras_model(folder)
    graph = tf.function(
        lambda ids: model(ids, training=False),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )

    def run(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intent, tags = graph(tf.constant(ids))
        return intent.numpy(), tags.numpy()

    return run
