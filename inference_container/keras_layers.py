"""The few custom Keras layers of the NLU model, needed to build it and to load its `.h5` file.

They keep padding inert without Keras masking (which ONNX export and batch-1 serving do not
need): padded positions are zeroed after every layer, so a text gives the same outputs alone or
padded inside a batch.
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


@tf.keras.utils.register_keras_serializable("switchboard")
class DilatedConv1D(tf.keras.layers.Layer):
    """A 'same' dilated 1-D convolution + ReLU written as one padded conv2d with dilations.

    Keras' Conv1D(dilation_rate>1) becomes a SpaceToBatch emulation in the graph (about sixty
    ONNX nodes for three layers); this exports as one Pad and one Conv per layer.
    """

    def __init__(self, filters: int, kernel_size: int, dilation_rate: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.dilation_rate = filters, kernel_size, dilation_rate

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(1, self.kernel_size, input_shape[-1], self.filters),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        pad = self.dilation_rate * (self.kernel_size - 1) // 2
        x = tf.pad(tf.expand_dims(x, 1), [[0, 0], [0, 0], [pad, pad], [0, 0]])
        y = tf.nn.conv2d(x, self.kernel, strides=1, padding="VALID", dilations=[1, 1, self.dilation_rate, 1])
        return tf.nn.relu(tf.squeeze(y, 1) + self.bias)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate}


CUSTOM_OBJECTS = {"TokenMask": TokenMask, "ApplyMask": ApplyMask, "MaskedPool": MaskedPool,
                  "DilatedConv1D": DilatedConv1D}
