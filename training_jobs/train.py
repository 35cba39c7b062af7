"""Train a recipe -> export -> calibrate on validation -> evaluate through the serving path -> artifact.

Recipes (`nlu.artifact.RECIPES`): `fast` (static vectors + CNN, `fast.py`), `transformer` (six
MiniLM layers fine-tuned, `finetune.py`, exported to int8 ONNX with a parity check,
`export_transformer.py`), and `cascade`, both: the fast tier answers what it is sure of and the
transformer the rest.

Steps, in order: split the data; tokenise with the serving tokenizer; fit each tier (sharded per
Horovod rank); on rank 0 export each tier and write the artifact; then, on the validation split
only, fit the out-of-scope detector's statistics (on the training texts) and choose the thresholds
and the cascade's cut; evaluate val and test through `Model.parse`; move the folder into place.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu import artifact
from nlu import dataset as data_mod
from nlu.artifact import CASCADE, DEFAULT_RECIPE, FAST, RECIPES, TRANSFORMER
from nlu.dataset import OOS, Dataset, Example
from nlu.detector import DETECTOR_FILE, Mahalanobis
from nlu.spans import tag_labels
from nlu.tokenizer import WordPieceTokenizer

from . import calibrate
from .augment import augment
from .distributed import context
from .evaluate import evaluate
from .fast import resolve_schedule, unbias_moving_average  # noqa: F401  (unbias: tests use it from here)
from .finetune import FinetuneConfig
from .model import ModelConfig

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    recipe: str = DEFAULT_RECIPE  # fast | transformer | cascade
    epochs: int | None = None  # the fast tier's; None: 30, or more on small data (at least fast.MIN_STEPS updates)
    seed: int = 13
    oos_mode: str | None = None  # class | threshold | none; None: class if the data has oos examples
    batch_size: int | None = None  # the fast tier's; None: 64, smaller on small data
    learning_rate: float = 2e-3
    label_smoothing: float = 0.1
    val_fraction: float = 0.1
    max_tokens: int = 128
    embedding_dim: int = 256
    ema: float | None = 0.999  # evaluate and ship an exponential moving average of the weights (None: off)
    oos_budget: float | None = None  # in-scope validation accuracy the out-of-scope threshold may cost;
    # None: OOS_BUDGET of the tier that decides
    augment: bool = True  # entity substitution on small catalogues (augment.py)
    model: ModelConfig = field(default_factory=ModelConfig)
    transformer: FinetuneConfig = field(default_factory=FinetuneConfig)


# The fast tier's confidence gives up 1 point of in-scope accuracy for what it catches (its curve is
# flat); the transformer's detector a quarter point: on CLINC150 validation its first 0.25 points
# catch 59 % of the out-of-scope texts, the next 0.75 only 26 % more (bench/README.md, Quality).
OOS_BUDGET = {FAST: 0.01, TRANSFORMER: 0.0025}


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


def train(dataset: Dataset, out: str | Path, cfg: TrainConfig) -> dict | None:
    """Fit and, on rank 0, write the artifact to `out`; returns its metrics (None on other ranks)."""
    import tensorflow as tf

    from . import pretrained

    if cfg.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {cfg.recipe!r}: use {', '.join(RECIPES)}")
    dist = context()
    if dist.size > 1:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 2) // dist.size))
    tf.keras.utils.set_random_seed(cfg.seed)
    splits, mode = prepare_splits(dataset, cfg)
    tiers = RECIPES[cfg.recipe]
    if TRANSFORMER in tiers:
        cfg = dataclasses.replace(cfg, max_tokens=min(cfg.max_tokens, cfg.transformer.window - 2))
    intents = sorted({e.intent for e in splits["train"]})
    tags = tag_labels(dataset.entities)
    vocab = pretrained.vocab_path().read_text(encoding="utf-8").splitlines()
    tokenizer = WordPieceTokenizer(vocab, cfg.max_tokens)

    added = augment(splits["train"], dataset.synonyms, dataset.lookups, cfg.seed) if cfg.augment else []
    if added:
        log.info("entity substitution: %d more training texts from %d annotated ones", len(added),
                 sum(1 for e in splits["train"] if e.entities))
        splits["train"] = splits["train"] + added
    # Each rank its own shard, all of one size so that every rank takes the same number of steps.
    shard = len(splits["train"]) // dist.size
    rng = np.random.default_rng(cfg.seed)
    shuffled = [splits["train"][i] for i in rng.permutation(len(splits["train"]))]
    mine = shuffled[dist.rank * shard:(dist.rank + 1) * shard]
    fitted, report = {}, {"ranks": dist.size, "train_examples": len(splits["train"]), "examples_per_rank": shard,
                          "augmented_examples": len(added)}
    if FAST in tiers:
        from .fast import fit_fast

        cfg = resolve_schedule(cfg, shard)
        fitted[FAST], final, seconds = fit_fast(mine, splits["val"], intents, tags, tokenizer, cfg, dist,
                                                FAST if len(tiers) > 1 else None)
        report[FAST] = {"seconds": round(seconds, 1), "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                        "final_epoch": final}
    if TRANSFORMER in tiers:
        from .finetune import fit_transformer

        fitted[TRANSFORMER], report[TRANSFORMER] = fit_transformer(
            mine, splits["val"], intents, tags, tokenizer, cfg.transformer, cfg.seed, dist, shard * dist.size)
    if dist.rank != 0:
        return None

    final_out = Path(out)
    if final_out.exists() and any(final_out.iterdir()) and not (final_out / artifact.METADATA).exists():
        raise ValueError(f"{final_out} exists and is not a model artifact; refusing to overwrite it")
    final_out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{final_out.name}-", dir=final_out.parent))
    try:
        metrics = _write(folder, fitted, report, dataset, splits, mode, intents, tags, vocab, tokenizer, cfg)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # never leave a half-written artifact behind
        raise
    shutil.rmtree(final_out, ignore_errors=True)  # an earlier artifact at the same path
    os.rename(folder, final_out)
    return metrics


def _write(out: Path, fitted: dict, report: dict, dataset: Dataset, splits: dict, mode: str, intents: list[str],
           tags: list[str], vocab: list[str], tokenizer: WordPieceTokenizer, cfg: TrainConfig) -> dict:
    """Rank 0: export each tier, write the metadata, calibrate on validation, evaluate; returns the metrics."""
    started = time.perf_counter()
    if FAST in fitted:
        from .export import export_onnx

        fitted[FAST].save(out / artifact.KERAS_FILE, save_format="h5")
        export_onnx(fitted[FAST], cfg.model, out / artifact.ONNX_FILE)
    parity = None
    if TRANSFORMER in fitted:
        parity = export_transformer(fitted[TRANSFORMER], out, splits, intents, tags, tokenizer, cfg.transformer)
    meta = {
        "name": "nlu",
        "contract": artifact.CONTRACT,
        "version": f"{artifact.CONTRACT}.0.0",  # provisional; the registry assigns the real one
        "recipe": cfg.recipe,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "intents": intents,
        "tags": tags,
        "oos_label": OOS,
        "oos_mode": mode,
        "threshold": 0.0,
        "max_tokens": cfg.max_tokens,
        "synonyms": dataset.synonyms,
        "data_hash": dataset.fingerprint(),
        "data_source": dataset.source,
        "training": {**_config_record(cfg), **report},
        "vocab": vocab,
    }
    if TRANSFORMER in fitted:
        meta["transformer"] = {"layers": cfg.transformer.layers, "window": cfg.transformer.window,
                               "head_scale": cfg.transformer.head_scale, "parity": parity}
    write_json(out / artifact.METADATA, meta)
    calibration = calibrate_artifact(out, meta, splits, mode, tokenizer, cfg)
    nlu = artifact.load_model(out)
    metrics = {"val": evaluate(nlu, splits["val"])}
    if splits.get("test"):
        metrics["test"] = evaluate(nlu, splits["test"])
    metrics["calibration"] = calibration
    metrics["serving"] = serving_figures(nlu, [e.text for e in splits["val"]][:500])
    seconds = {t: report[t]["seconds"] for t in fitted}
    metrics["training"] = {"seconds": round(sum(seconds.values()), 1), "ranks": report["ranks"],
                           "recipe": cfg.recipe, "tier_seconds": seconds,
                           "export_and_calibration_seconds": round(time.perf_counter() - started, 1),
                           **(report[FAST]["final_epoch"] if FAST in report else {})}
    write_json(out / artifact.METRICS, metrics)
    return metrics


def _config_record(cfg: TrainConfig) -> dict:
    record = dataclasses.asdict(cfg)
    if cfg.recipe == TRANSFORMER:
        record.pop("model")  # the fast tier's settings mean nothing here
    if cfg.recipe == FAST:
        record.pop("transformer")
    return record


def export_transformer(model, out: Path, splits: dict, intents: list[str], tags: list[str],
                       tokenizer: WordPieceTokenizer, cfg: FinetuneConfig) -> dict:
    """Keras weights, the float graph checked against them, fused, int8, and the parity check on the
    held-out texts (validation and test): ParityError, and no artifact, when it fails."""
    from .batches import encode
    from .export_transformer import export

    model.save_weights(out / artifact.TRANSFORMER_KERAS)
    wrap = (tokenizer.ids["[CLS]"], tokenizer.ids["[SEP]"])
    index = {n: i for i, n in enumerate(intents)}
    tag_index = {t: i for i, t in enumerate(tags)}
    train_ids = encode(splits["train"], tokenizer, index, tag_index, wrap)[0]
    sample = [train_ids[i] for i in np.random.default_rng(0).permutation(len(train_ids))[:200]]
    held_out = [e for e in splits["val"] + splits.get("test", []) if e.intent in index]
    ids, gold, _ = encode(held_out, tokenizer, index, tag_index, wrap) if held_out else ([], [], [])
    return export(model, out / artifact.TRANSFORMER_ONNX, cfg.window, wrap, sample, ids, gold)


def calibrate_artifact(out: Path, meta: dict, splits: dict, mode: str, tokenizer: WordPieceTokenizer,
                       cfg: TrainConfig) -> dict:
    """On the validation split only: the detector (its statistics from the training texts), the
    out-of-scope threshold and the cascade's cut, written into the metadata. Returns what was chosen
    and the curves it was chosen on."""
    recipe = meta["recipe"]
    val = splits["val"]
    is_oos = [e.intent == OOS for e in val]
    nlu = artifact.load_model(out)
    chosen: dict = {}
    deciding = TRANSFORMER if TRANSFORMER in RECIPES[recipe] else FAST
    pieces = [tokenizer.tokenize(e.text) for e in val]
    raw = nlu.infer(pieces, deciding)
    top = [nlu.intents[int(np.argmax(r.intent))] for r in raw]
    correct = [t == e.intent for t, e in zip(top, val)]
    confidence = [float(np.max(r.intent)) for r in raw]
    budget = OOS_BUDGET[deciding] if cfg.oos_budget is None else cfg.oos_budget
    if mode == "threshold" or (mode == "class" and deciding == TRANSFORMER):
        chosen["budget"] = budget
        msp = calibrate.oos_curve(confidence, correct, is_oos)
        chosen["curves"] = {"confidence": msp}
        use_detector = deciding == TRANSFORMER
        if use_detector:
            train = [e for e in splits["train"] if e.intent != OOS]
            features = nlu.features([tokenizer.tokenize(e.text) for e in train])
            labels = np.array([nlu.intents.index(e.intent) for e in train])
            detector = Mahalanobis.fit(features, labels)
            scores = list(map(float, detector.score(nlu.features(pieces))))
            chosen["curves"]["mahalanobis"] = calibrate.oos_curve(scores, correct, is_oos)
            # the better detector on validation; without out-of-scope examples the curve cannot tell, and
            # the distance is the one that sees texts unlike any intent (bench/oos.py)
            auroc_d, auroc_c = chosen["curves"]["mahalanobis"]["auroc"], msp["auroc"]
            use_detector = auroc_d is None or auroc_c is None or auroc_d >= auroc_c
        if use_detector:
            detector.save(out / DETECTOR_FILE)
            threshold = calibrate.threshold_for(scores, correct, is_oos, budget)
            meta["detector"] = {"kind": detector.kind, "threshold": threshold}
            chosen["detector"] = meta["detector"]
        else:
            meta["threshold"] = calibrate.threshold_for(confidence, correct, is_oos, budget)
            chosen["threshold"] = meta["threshold"]
        write_json(out / artifact.METADATA, meta)
    if recipe == CASCADE:
        nlu = artifact.load_model(out)
        texts = [e.text for e in val]
        slow_right = [right(p, e) for p, e in zip(nlu.parse(texts, TRANSFORMER), val)]
        fast = nlu.infer(pieces, FAST)
        fast_right = [right(nlu.result(t, p, r), e) for t, p, r, e in zip(texts, pieces, fast, val)]
        sure = [artifact.sureness(r) for r in fast]
        cascade: dict[str, Any] = {"cut": calibrate.choose_cut(sure, fast_right, slow_right),
                                   "max_drop": calibrate.CASCADE_MAX_DROP}
        if len(val) < calibrate.min_texts():
            cascade["reason"] = (f"validation has {len(val)} texts, fewer than the "
                                 f"{calibrate.min_texts()} that resolve the budget: the transformer "
                                 "answers every text until the catalogue grows")
        meta["cascade"] = chosen["cascade"] = cascade
        write_json(out / artifact.METADATA, meta)
    return chosen


def right(parsed: dict, example: Example) -> bool:
    """The whole parse is right: the intent (out of scope included) and every entity span."""
    return parsed["intent"]["name"] == example.intent and \
        {(x["start"], x["end"], x["entity"]) for x in parsed["entities"]} == \
        {(s.start, s.end, s.entity) for s in example.entities}


def serving_figures(nlu: artifact.Model, texts: list[str]) -> dict:
    """Batch-1 parse of `texts` through the artifact as the service runs it: per-tier latency and
    the share the cascade escalates (what the version page shows)."""
    for text in texts[:20]:
        nlu.parse([text])
    nlu.stats = artifact.TierStats()
    for text in texts:
        nlu.parse([text])
    return nlu.stats.summary()


def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
