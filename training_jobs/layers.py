"""The few custom Keras layers of the NLU model, needed to build it and to load its `.h5` file.

They keep the padding of training batches inert without Keras masking: padded positions are
zeroed after every layer, so a text gives the same outputs alone or padded inside a batch. (The
service never pads: `Model.infer` runs texts of one length together.)
"""
import tensorflow as tf


@tf.keras.utils.register_keras_serializable("switchboard")
class TokenMask(tf.keras.layers.Layer):
    """token ids [B, T] -> float mask [B, T, 1], 1 for real tokens (id != 0)."""

    def call(self, ids):
        return tf.expand_dims(tf.cast(tf.not_equal(ids, 0), self.compute_dtype), -1)


@tf.keras.utils.register_keras_serializable("switchboard")
class ApplyMask(tf.keras.layers.Layer):
    def call(self, inputs):
        x, mask = inputs
        return x * mask


@tf.keras.utils.register_keras_serializable("switchboard")
class MaskedPool(tf.keras.layers.Layer):
    """Mean and max over real tokens: [B, T, D], [B, T, 1] -> [B, 2D]."""

    def call(self, inputs):
        x, mask = inputs
        count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        mean = tf.reduce_sum(x * mask, axis=1) / count
        maximum = tf.reduce_max(x * mask - (1.0 - mask) * 1e4, axis=1)
        return tf.concat([mean, maximum], axis=-1)


CUSTOM_OBJECTS = {"TokenMask": TokenMask, "ApplyMask": ApplyMask, "MaskedPool": MaskedPool}
