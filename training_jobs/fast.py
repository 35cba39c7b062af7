"""Fitting the fast tier: distilled static vectors + dilated CNN (`model.py`), on one rank's shard."""
from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from nlu.dataset import Example
from nlu.tokenizer import WordPieceTokenizer

from .batches import batches, encode, masked_tag_loss
from .progress import Progress

MIN_STEPS = 800


def resolve_schedule(cfg, n_examples: int):
    """Fill in batch size and epochs so that a small data set still gets enough updates."""
    batch = cfg.batch_size or min(64, max(16, n_examples // 32))
    steps = max(1, n_examples // batch)
    epochs = cfg.epochs or min(300, max(30, -(-MIN_STEPS // steps)))
    return dataclasses.replace(cfg, batch_size=batch, epochs=epochs)


def fit_fast(train_examples: list[Example], val: list[Example], intents: list[str], tags: list[str],
             tokenizer: WordPieceTokenizer, cfg, dist, progress_tier: str | None = None):
    """The fitted Keras model, its final epoch's figures and the seconds it took. `cfg` is the
    resolved TrainConfig (`resolve_schedule`)."""
    import tensorflow as tf

    from . import pretrained
    from .model import build

    intent_index = {n: i for i, n in enumerate(intents)}
    tag_index = {t: i for i, t in enumerate(tags)}
    embeddings = pretrained.static_embeddings(cfg.embedding_dim)
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
    progress = [Progress(val, tokenizer, intent_index, cfg.epochs, progress_tier)] if dist.rank == 0 else []
    history = model.fit(stream, steps_per_epoch=steps, epochs=cfg.epochs, verbose=verbose,
                        callbacks=dist.callbacks() + progress)
    seconds = time.perf_counter() - started
    if cfg.ema is not None:
        # Keras types `optimizer` as optional; compile() set it
        steps_taken = int(model.optimizer.iterations.numpy())  # pyright: ignore[reportOptionalMemberAccess]
        unbias_moving_average(model, initial, cfg.ema ** steps_taken)
    final = {k: round(float(v[-1]), 4) for k, v in history.history.items()}
    return model, final, seconds


def unbias_moving_average(model, initial: list[np.ndarray], initial_share: float) -> None:
    """Keras starts the weights' moving average from the initial weights, which keep a share of
    momentum**steps in it: half the average after 700 steps at 0.999. Remove that share, as Adam
    corrects its moments, so that a short run on a small data set ships trained weights."""
    if initial_share >= 1.0:
        return
    for var, w0 in zip(model.trainable_variables, initial):
        var.assign((var.numpy() - initial_share * w0) / (1.0 - initial_share))
