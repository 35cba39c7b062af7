"""Fine-tuning the transformer tier (`transformer.py`) for intent and BIO tags, on one rank's shard.

The usual recipe for a BERT-size encoder, named once here and chosen on CLINC150's validation split
(bench/README.md): AdamW (weight decay 0.01, none on biases and norms), the learning rate (2e-4)
warmed up linearly over the first 10 % of the updates and decayed linearly to zero, label smoothing
0.1, a batch of 32 texts (16 on small data) whatever the number of Horovod ranks (each takes its
share, so one and two processes train the same recipe), the word embedding table frozen (a third
less time per step on a CPU, and words the catalogue lacks keep their pretrained meaning), and a
cosine intent head that starts from each intent's mean pretrained sentence embedding (a small
catalogue starts as a nearest-centroid classifier).

After each epoch every rank scores its share of the validation split, the counts are summed across
ranks, and the best epoch's weights are kept; training stops when the score has not improved for
`patience` epochs in the second half of the schedule. A validation split too small to tell epochs
apart (under MIN_VAL_TO_STOP texts) stops nothing: the last epoch is kept.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlu.dataset import Example
from nlu.tokenizer import WordPieceTokenizer

from .batches import batches, encode, masked_tag_loss, pad
from .progress import emit

MIN_STEPS = 1500  # updates a small data set still gets
MIN_EPOCHS, MAX_EPOCHS = 6, 40
MIN_VAL_TO_STOP = 200  # a smaller validation split cannot tell epochs apart: the last one is kept


@dataclass
class FinetuneConfig:
    layers: int = 6  # the first N of the pretrained encoder's six (tests cut it to two)
    learning_rate: float = 2e-4
    warmup: float = 0.1  # share of the updates spent warming up
    weight_decay: float = 0.01
    batch_size: int | None = None  # None: 32, or 16 under 2,000 training examples
    epochs: int | None = None  # None: enough for MIN_STEPS updates, MIN_EPOCHS to MAX_EPOCHS
    patience: int = 2
    dropout: float = 0.1
    label_smoothing: float = 0.1
    head_scale: float = 20.0  # > 0: a cosine intent head from the class means (transformer.CosineHead); 0: linear
    train_word_embeddings: bool = False
    window: int = 130  # positions, [CLS] and [SEP] included: texts are cut to window - 2 pieces


def schedule(cfg: FinetuneConfig, n_examples: int) -> tuple[int, int]:
    """(batch size, epochs) for `n_examples` training examples."""
    batch = cfg.batch_size or (32 if n_examples >= 2000 else 16)
    steps = max(1, n_examples // batch)
    epochs = cfg.epochs or min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps)))
    return batch, epochs


def fit_transformer(train_examples: list[Example], val: list[Example], intents: list[str], tags: list[str],
                    tokenizer: WordPieceTokenizer, cfg: FinetuneConfig, seed: int, dist, n_total: int):
    """The fine-tuned Keras model (outputs intent, tags, features) and what its run did.
    `train_examples` is this rank's shard; `n_total` the examples of all ranks."""
    import tensorflow as tf

    from . import pretrained
    from .transformer import TransformerConfig, WarmupLinearDecay, build, load_pretrained

    intent_index = {n: i for i, n in enumerate(intents)}
    tag_index = {t: i for i, t in enumerate(tags)}
    wrap = (tokenizer.ids["[CLS]"], tokenizer.ids["[SEP]"])
    batch, epochs = schedule(cfg, n_total)
    rank_batch = max(1, batch // dist.size)
    ids, intent_ids, tag_ids = encode(train_examples, tokenizer, intent_index, tag_index, wrap)
    stream, steps = batches(ids, intent_ids, tag_ids, rank_batch, len(intents), seed)

    model = build(TransformerConfig(cfg.layers, cfg.dropout, cfg.head_scale, cfg.train_word_embeddings),
                  len(intents), len(tags))
    load_pretrained(model, pretrained.read_safetensors(pretrained.model_dir() / "model.safetensors"))
    if cfg.head_scale > 0:
        start_from_class_means(model, ids, intent_ids, len(intents))
    total = steps * epochs
    opt = tf.keras.optimizers.AdamW(WarmupLinearDecay(cfg.learning_rate, int(total * cfg.warmup), total),
                                    weight_decay=cfg.weight_decay)
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    trainer = tf.keras.Model(model.input, {"intent": model.output["intent"], "tags": model.output["tags"]})
    trainer.compile(optimizer=dist.optimizer(opt), loss={
        "intent": tf.keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        "tags": masked_tag_loss})
    check = Validation(model, val[dist.rank::dist.size], tokenizer, intent_index, tag_index, wrap, dist,
                       epochs, cfg.patience if len(val) >= MIN_VAL_TO_STOP else None)
    started = time.perf_counter()
    trainer.fit(stream, steps_per_epoch=steps, epochs=epochs, verbose=0, callbacks=dist.callbacks() + [check])
    seconds = time.perf_counter() - started
    if check.best_weights is not None:
        model.set_weights(check.best_weights)
    return model, {"epochs": epochs, "epochs_run": check.epochs_run, "best_epoch": check.best_epoch,
                   "best_val_score": check.best, "batch_size": batch, "steps_per_epoch": steps,
                   "seconds": round(seconds, 1)}


def start_from_class_means(model, ids, intent_ids, n_intents: int) -> None:
    """Each class's weight vector in the cosine head becomes the mean of its examples' pretrained
    features: the untrained head already answers like a nearest-centroid classifier."""
    [features] = predict(model, ids, "features")
    labels = np.array(intent_ids)
    kernel = np.stack([features[labels == c].mean(0) if np.any(labels == c) else np.zeros(features.shape[1])
                       for c in range(n_intents)], axis=1)
    model.get_layer("intent").kernel.assign(kernel.astype(np.float32))


def predict(model, rows: list[list[int]], *outputs: str, batch: int = 128) -> list:
    """Each of `outputs` for every row, in batches of similar length (rows already have [CLS] and
    [SEP]): an array [N, ...], or for `tags` a list (rows differ in length)."""
    order = np.argsort([len(r) for r in rows], kind="stable")
    out: dict[str, list[Any]] = {name: [None] * len(rows) for name in outputs}
    for start in range(0, len(order), batch):
        members = order[start:start + batch]
        got = model(pad([rows[i] for i in members]), training=False)
        for name in outputs:
            values = np.asarray(got[name])
            for j, i in enumerate(members):
                out[name][i] = values[j]
    return [out[name] if name == "tags" else np.stack(out[name]) for name in outputs]


def Validation(model, val, tokenizer, intent_index, tag_index, wrap, dist, epochs: int, patience: int | None):
    """After each epoch: the validation score (intent accuracy, averaged with the token-level F1 of
    the entity tags where there are entities) summed over the ranks' shares; the best weights kept
    (the last ones when `patience` is None); a PROGRESS line on rank 0; stop when no better for
    `patience` epochs in the schedule's second half."""
    import tensorflow as tf

    known = [e for e in val if e.intent in intent_index]
    ids, gold_intents, gold_tags = encode(known, tokenizer, intent_index, tag_index, wrap) if known else ([], [], [])

    class _Validation(tf.keras.callbacks.Callback):
        best, best_epoch, best_weights, epochs_run, since = -1.0, 0, None, 0, 0

        def on_epoch_end(self, epoch, logs=None):
            counts = np.zeros(5)  # intents right, texts, tag tp, fp, fn
            if ids:
                intents, tags = predict(model, ids, "intent", "tags")
                counts[:2] = (intents.argmax(-1) == np.array(gold_intents)).sum(), len(ids)
                for probs, gold in zip(tags, gold_tags):
                    pred, gold = probs[:len(gold)].argmax(-1), np.array(gold)
                    real = gold >= 0
                    pred, gold = pred[real], gold[real]
                    counts[2] += np.sum((pred == gold) & (gold != 0))
                    counts[3] += np.sum((pred != gold) & (pred != 0))
                    counts[4] += np.sum((pred != gold) & (gold != 0))
            counts = np.array([dist.mean(float(c)) * dist.size for c in counts])
            accuracy = counts[0] / counts[1] if counts[1] else 0.0
            score = accuracy
            if counts[2] + counts[4] > 0:
                score = (accuracy + 2 * counts[2] / max(1.0, 2 * counts[2] + counts[3] + counts[4])) / 2
            self.epochs_run = epoch + 1
            if score >= self.best or patience is None:  # ties go to the later epoch: further down the schedule
                self.best, self.best_epoch, self.since = score, epoch + 1, 0
                self.best_weights = model.get_weights()
            else:
                self.since += 1
            if dist.rank == 0:
                emit({"tier": "transformer", "epoch": epoch + 1, "epochs": epochs,
                      "loss": round(float((logs or {}).get("loss", 0.0)), 4),
                      "val_intent_accuracy": round(float(accuracy), 4), "val_score": round(float(score), 4)})
            if patience is not None and self.since >= patience and epoch + 1 >= epochs / 2:
                self.model.stop_training = True

    return _Validation()
