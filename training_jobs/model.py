"""The joint intent + entity model: one shared encoder, an intent head and a per-token BIO head.

Encoder: pretrained static WordPiece vectors (frozen) -> a trainable projection -> a stack of
dilated 1-D convolutions with residual connections (receptive field of 15 tokens). Intent head:
masked mean+max pooling of the encoder and the embeddings. Entity head: a softmax per token.
All of it is plain convolutions and reductions, so the ONNX export is small and exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .layers import ApplyMask, MaskedPool, TokenMask


@dataclass
class ModelConfig:
    width: int = 128
    dilations: tuple[int, ...] = (1, 2, 4)
    kernel_size: int = 3
    dropout: float = 0.3
    embeddings_trainable: bool = False


def build(config: ModelConfig, embeddings: np.ndarray, n_intents: int, n_tags: int) -> tf.keras.Model:
    layers = tf.keras.layers
    ids = layers.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = TokenMask(name="mask")(ids)
    emb = layers.Embedding(
        embeddings.shape[0], embeddings.shape[1], name="embeddings",
        trainable=config.embeddings_trainable,
    )(ids)
    emb = ApplyMask()([emb, mask])
    x = layers.Dense(config.width, activation="relu", name="project")(emb)
    x = ApplyMask()([x, mask])
    for i, d in enumerate(config.dilations):
        h = layers.Dropout(config.dropout)(x)
        h = layers.Conv1D(config.width, config.kernel_size, padding="same", dilation_rate=d,
                          activation="relu", name=f"conv{i}")(h)
        x = ApplyMask()([layers.Add()([x, h]), mask])
    pooled = MaskedPool(name="pool")([layers.Concatenate()([x, emb]), mask])
    pooled = layers.Dropout(config.dropout)(pooled)
    intent = layers.Dense(n_intents, activation="softmax", name="intent")(pooled)
    t = layers.Dropout(config.dropout)(layers.Concatenate()([x, emb]))
    tags = layers.Dense(n_tags, activation="softmax", name="tags")(t)
    model = tf.keras.Model(ids, [intent, tags], name="switchboard_nlu")
    model.get_layer("embeddings").set_weights([embeddings])  # weights, not a config constant
    return model

