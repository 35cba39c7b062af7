"""Train -> threshold -> export (.h5 + ONNX) -> evaluate through the serving path -> artifact.

Steps, in order: split the data, tokenise once with the serving tokenizer, build the joint model
on distilled pretrained vectors, fit (sharded per Horovod rank), and on rank 0 write the artifact
and its metrics.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlu import artifact
from nlu import dataset as data_mod
from nlu.dataset import OOS, Dataset, Example
from nlu.spans import encode_tags, tag_labels
from nlu.tokenizer import WordPieceTokenizer

from .distributed import context
from .evaluate import evaluate, predict
from .backends import PROGRESS
from .metrics import choose_threshold
from .model import ModelConfig

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int | None = None  # None: 30, or more on small data (at least MIN_STEPS updates)
    seed: int = 13
    oos_mode: str | None = None  # class | threshold | none; None: class if the data has oos examples
    batch_size: int | None = None  # None: 64, smaller on small data
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    val_fraction: float = 0.1
    max_tokens: int = 128
    embedding_dim: int = 256
    ema: float | None = 0.999  # evaluate and ship an exponential moving average of the weights (None: off)
    model: ModelConfig = field(default_factory=ModelConfig)


MIN_STEPS = 800


def resolve_schedule(cfg: TrainConfig, n_examples: int) -> TrainConfig:
    """Fill in batch size and epochs so that a small data set still gets enough updates."""
    batch = cfg.batch_size or min(64, max(16, n_examples // 32))
    steps = max(1, n_examples // batch)
    epochs = cfg.epochs or min(300, max(30, -(-MIN_STEPS // steps)))
    return dataclasses.replace(cfg, batch_size=batch, epochs=epochs)


def prepare_splits(dataset: Dataset, cfg: TrainConfig) -> tuple[dict[str, list[Example]], str]:
    splits = data_mod.with_test_split(dataset.splits)  # a catalogue: the gate's held-out set
    if not splits.get("val"):
        splits["train"], splits["val"] = data_mod.holdout(splits["train"], cfg.val_fraction, cfg.seed)
    has_oos = any(e.intent == OOS for e in splits["train"])
    mode = cfg.oos_mode or ("class" if has_oos else "threshold")
    if mode not in ("class", "threshold", "none"):
        raise ValueError(f"unknown oos mode {mode!r}: use class, threshold or none")
    if mode == "class" and not has_oos:
        log.warning("oos mode 'class' but the training data has no %r examples", OOS)
    if mode != "class":
        splits["train"] = [e for e in splits["train"] if e.intent != OOS]
    return splits, mode


def encode(examples: list[Example], tokenizer: WordPieceTokenizer, intent_index: dict, tag_index: dict):
    """Token ids, intent ids and tag ids (-1 on padding: the tag loss ignores it), unpadded."""
    ids, tags = [], []
    for e in examples:
        pieces = tokenizer.tokenize(e.text)
        ids.append([p.id for p in pieces])
        tags.append(encode_tags(pieces, e.entities, tag_index))
    return ids, [intent_index[e.intent] for e in examples], tags


def batches(ids, intents, tags, batch_size: int, n_intents: int, seed: int):
    """A tf.data pipeline of length-bucketed batches, padded per batch, reshuffled each epoch.

    Sorting by length cuts the padding (CLINC150's longest utterance is three times its mean),
    which is most of the compute of a convolutional encoder.
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
                width = max(1, max(len(ids[i]) for i in rows))
                x = np.zeros((len(rows), width), np.int32)
                y = np.full((len(rows), width), -1, np.int32)
                for j, i in enumerate(rows):
                    x[j, :len(ids[i])] = ids[i]
                    y[j, :len(tags[i])] = tags[i]
                onehot = np.eye(n_intents, dtype=np.float32)[[intents[i] for i in rows]]
                yield x, {"intent": onehot, "tags": y}

    spec = (tf.TensorSpec([None, None], tf.int32),
            {"intent": tf.TensorSpec([None, n_intents], tf.float32), "tags": tf.TensorSpec([None, None], tf.int32)})
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2), len(groups)


def train(dataset: Dataset, out: str | Path, cfg: TrainConfig) -> dict | None:
    """Fit and, on rank 0, write the artifact to `out`; returns its metrics (None on other ranks)."""
    import tensorflow as tf

    from . import pretrained
    from .export import export_onnx
    from .model import build

    dist = context()
    if dist.size > 1:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 2) // dist.size))
    tf.keras.utils.set_random_seed(cfg.seed)
    splits, mode = prepare_splits(dataset, cfg)
    cfg = resolve_schedule(cfg, len(splits["train"]) // dist.size)
    intents = sorted({e.intent for e in splits["train"]})
    tags = tag_labels(dataset.entities)
    intent_index = {n: i for i, n in enumerate(intents)}
    tag_index = {t: i for i, t in enumerate(tags)}
    vocab = pretrained.vocab_path().read_text(encoding="utf-8").splitlines()
    tokenizer = WordPieceTokenizer(vocab, cfg.max_tokens)
    embeddings = pretrained.static_embeddings(cfg.embedding_dim)

    # Each rank its own shard, all of one size so that every rank takes the same number of steps.
    shard = len(splits["train"]) // dist.size
    rng = np.random.default_rng(cfg.seed)
    shuffled = [splits["train"][i] for i in rng.permutation(len(splits["train"]))]
    train_examples = shuffled[dist.rank * shard:(dist.rank + 1) * shard]
    stream, steps = batches(*encode(train_examples, tokenizer, intent_index, tag_index),
                            cfg.batch_size, len(intents), cfg.seed)
    model = build(cfg.model, embeddings, len(intents), len(tags))
    model.compile(
        optimizer=dist.optimizer(tf.keras.optimizers.Adam(cfg.learning_rate * dist.size, use_ema=cfg.ema is not None,
                                                          ema_momentum=cfg.ema or 0.99)),
        loss={
            "intent": tf.keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            "tags": masked_tag_loss,
        },
        metrics={"intent": "accuracy"},
    )
    initial = [v.numpy() for v in model.trainable_variables]
    started = time.perf_counter()
    verbose = (1 if sys.stdout.isatty() else 2) if dist.rank == 0 else 0
    progress = [Progress(splits["val"], tokenizer, intent_index, cfg.epochs)] if dist.rank == 0 else []
    history = model.fit(
        stream, steps_per_epoch=steps, epochs=cfg.epochs, verbose=verbose,
        callbacks=dist.callbacks() + progress,
    )
    train_seconds = time.perf_counter() - started
    if cfg.ema is not None:
        unbias_moving_average(model, initial, cfg.ema ** int(model.optimizer.iterations.numpy()))
    final = {k: round(float(v[-1]), 4) for k, v in history.history.items()}
    if dist.rank != 0:
        return None

    final_out = Path(out)
    if final_out.exists() and any(final_out.iterdir()) and not (final_out / artifact.METADATA).exists():
        raise ValueError(f"{final_out} exists and is not a model artifact; refusing to overwrite it")
    final_out.parent.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f".{final_out.name}-", dir=final_out.parent))
    try:
        model.save(out / artifact.KERAS_FILE, save_format="h5")
        export_onnx(model, cfg.model, out / artifact.ONNX_FILE)
        meta = {
            "name": "nlu",
            "contract": artifact.CONTRACT,
            "version": f"{artifact.CONTRACT}.0.0",  # provisional; the registry assigns the real one
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "intents": intents,
            "tags": tags,
            "oos_label": OOS,
            "oos_mode": mode,
            "threshold": 0.0,
            "max_tokens": cfg.max_tokens,
            "synonyms": dataset.synonyms,
            "data_hash": dataset.fingerprint(),
            "data_source": dataset.source,
            "training": {**dataclasses.asdict(cfg), "ranks": dist.size, "train_examples": len(splits["train"]),
                         "examples_per_rank": shard,
                         "seconds": round(train_seconds, 1), "final_epoch": final},
            "vocab": vocab,
        }
        write_json(out / artifact.METADATA, meta)
        nlu = artifact.load_model(out, "onnx")
        val_parsed = predict(nlu, splits["val"])
        if mode == "threshold":
            meta["threshold"] = pick_threshold(splits["val"], val_parsed)
            write_json(out / artifact.METADATA, meta)
            nlu = artifact.load_model(out, "onnx")
            val_parsed = None
        metrics = {"val": evaluate(nlu, splits["val"], val_parsed)}
        if splits.get("test"):
            metrics["test"] = evaluate(nlu, splits["test"])
        metrics["training"] = {"seconds": round(train_seconds, 1), "ranks": dist.size, **final}
        write_json(out / artifact.METRICS, metrics)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a half-written artifact behind
        raise
    shutil.rmtree(final_out, ignore_errors=True)  # an earlier artifact at the same path
    os.rename(out, final_out)
    return metrics


def Progress(val: list[Example], tokenizer: WordPieceTokenizer, intent_index: dict, epochs: int):
    """A Keras callback printing `PROGRESS {json}` lines (epoch, loss, validation intent accuracy of
    the raw weights), about 20 per run: the training worker shows them on the Models page."""
    import tensorflow as tf

    every = max(1, epochs // 20)
    val = [e for e in val if e.intent in intent_index]
    ids = [[p.id for p in tokenizer.tokenize(e.text)] or [0] for e in val]
    x = np.zeros((len(ids), max((len(r) for r in ids), default=1)), np.int32)
    for i, row in enumerate(ids):
        x[i, :len(row)] = row
    gold = np.array([intent_index[e.intent] for e in val])

    class _Progress(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if done % every and done != epochs:
                return
            line = {"epoch": done, "epochs": epochs, "loss": round(float((logs or {}).get("loss", 0.0)), 4)}
            if len(val):
                intents = self.model(x, training=False)[0] if x.size else None
                line["val_intent_accuracy"] = round(float(np.mean(np.argmax(intents, -1) == gold)), 4)
            print(PROGRESS + json.dumps(line), flush=True)

    return _Progress()


def unbias_moving_average(model, initial: list[np.ndarray], initial_share: float) -> None:
    """Keras starts the weights' moving average from the initial weights, which keep a share of
    momentum**steps in it: half the average after 700 steps at 0.999. Remove that share, as Adam
    corrects its moments, so that a short run on a small data set ships trained weights."""
    if initial_share >= 1.0:
        return
    for var, w0 in zip(model.trainable_variables, initial):
        var.assign((var.numpy() - initial_share * w0) / (1.0 - initial_share))


def masked_tag_loss(y_true, y_pred):
    """Per-text mean cross-entropy over real tokens; padding is labelled -1."""
    import tensorflow as tf

    if y_pred.shape.rank < 3:  # a single tag ("O"): data without entities, nothing to learn
        return tf.zeros_like(y_pred[:, 0])
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true >= 0, y_pred.dtype)
    ce = tf.keras.losses.sparse_categorical_crossentropy(tf.maximum(y_true, 0), y_pred)
    return tf.reduce_sum(ce * mask, axis=-1) / tf.maximum(tf.reduce_sum(mask, axis=-1), 1.0)


def pick_threshold(val: list[Example], parsed: list[dict]) -> float:
    conf_in, correct, conf_oos = [], [], []
    for e, p in zip(val, parsed):
        top = p["intent_ranking"][0]
        if e.intent == OOS:
            conf_oos.append(top["confidence"])
        else:
            conf_in.append(top["confidence"])
            correct.append(top["name"] == e.intent)
    threshold = choose_threshold(conf_in, correct, conf_oos)
    # the rule depends on how many out-of-scope examples validation has (metrics.MIN_OOS_EXAMPLES)
    log.info("out-of-scope threshold %.4f from %d in-scope (%d right) and %d out-of-scope validation examples",
             threshold, len(conf_in), sum(correct), len(conf_oos))
    return threshold


def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)

