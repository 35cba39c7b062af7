"""Progress lines: `PROGRESS {json}` on standard output, about 20 per tier and run, on rank 0. The
training worker reads them from the job's log and the Models page shows them."""
from __future__ import annotations

import json

import numpy as np

from nlu.dataset import Example
from nlu.tokenizer import WordPieceTokenizer

from .backends import PROGRESS


def emit(line: dict) -> None:
    print(PROGRESS + json.dumps(line), flush=True)


def Progress(val: list[Example], tokenizer: WordPieceTokenizer, intent_index: dict, epochs: int,
             tier: str | None = None):
    """A Keras callback printing epoch, loss and validation intent accuracy of the raw weights."""
    import tensorflow as tf

    from .batches import pad

    every = max(1, epochs // 20)
    val = [e for e in val if e.intent in intent_index]
    x = pad([[p.id for p in tokenizer.tokenize(e.text)] or [0] for e in val])
    gold = np.array([intent_index[e.intent] for e in val])

    class _Progress(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if done % every and done != epochs:
                return
            line = {"epoch": done, "epochs": epochs, "loss": round(float((logs or {}).get("loss", 0.0)), 4)}
            if tier:
                line["tier"] = tier
            if len(val):
                intents = self.model(x, training=False)[0]
                line["val_intent_accuracy"] = round(float(np.mean(np.argmax(intents, -1) == gold)), 4)
            emit(line)

    return _Progress()
