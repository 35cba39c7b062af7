"""What both tiers train on: token ids and BIO tag ids per text, in length-bucketed padded batches,
and the tag loss that ignores padding."""
from __future__ import annotations

import numpy as np

from nlu.dataset import Example
from nlu.spans import encode_tags
from nlu.tokenizer import WordPieceTokenizer


def encode(examples: list[Example], tokenizer: WordPieceTokenizer, intent_index: dict, tag_index: dict,
           wrap: tuple[int, int] | None = None):
    """Token ids, intent ids and tag ids per text, unpadded. `wrap`: ([CLS], [SEP]) ids put around
    each text (the transformer's input), whose tags are -1 (the tag loss ignores them)."""
    ids, tags = [], []
    for e in examples:
        pieces = tokenizer.tokenize(e.text)
        row, labels = [p.id for p in pieces], encode_tags(pieces, e.entities, tag_index)
        if wrap:
            row, labels = [wrap[0], *row, wrap[1]], [-1, *labels, -1]
        ids.append(row)
        tags.append(labels)
    return ids, [intent_index[e.intent] for e in examples], tags


def pad(rows: list[list[int]], value: int = 0) -> np.ndarray:
    out = np.full((len(rows), max((len(r) for r in rows), default=1) or 1), value, np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def batches(ids, intents, tags, batch_size: int, n_intents: int, seed: int):
    """A tf.data pipeline of length-bucketed batches, padded per batch, reshuffled each epoch.

    Sorting by length cuts the padding (CLINC150's longest utterance is three times its mean),
    which is most of the compute of either encoder.
    """
    import tensorflow as tf

    jitter = np.random.default_rng(seed).random(len(ids))  # shuffles texts of equal length
    order = np.argsort([len(r) for r in ids] + jitter)
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def generate():
        rng = np.random.default_rng(seed)
        while True:
            for g in rng.permutation(len(groups)):
                rows = groups[g]
                x, y = pad([ids[i] for i in rows]), pad([tags[i] for i in rows], -1)
                onehot = np.eye(n_intents, dtype=np.float32)[[intents[i] for i in rows]]
                yield x, {"intent": onehot, "tags": y}

    spec = (tf.TensorSpec([None, None], tf.int32),
            {"intent": tf.TensorSpec([None, n_intents], tf.float32), "tags": tf.TensorSpec([None, None], tf.int32)})
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2), len(groups)


def masked_tag_loss(y_true, y_pred):
    """Per-text mean cross-entropy over real tokens; padding is labelled -1."""
    import tensorflow as tf

    if y_pred.shape.rank < 3:  # a single tag ("O"): data without entities, nothing to learn
        return tf.zeros_like(y_pred[:, 0])
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true >= 0, y_pred.dtype)
    ce = tf.keras.losses.sparse_categorical_crossentropy(tf.maximum(y_true, 0), y_pred)
    return tf.reduce_sum(ce * mask, axis=-1) / tf.maximum(tf.reduce_sum(mask, axis=-1), 1.0)
