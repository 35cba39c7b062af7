"""A model artifact on disk and the parse it serves.

An artifact is a folder: `metadata.json` (version, recipe, labels, vocabulary, thresholds, training
configuration, data hash), `metrics.json`, and the files of its tiers:

- the fast tier (static vectors + CNN, ~0.15 ms): `model.onnx` with its weights in
  `model.onnx.data`, and `model.h5`;
- the transformer tier (six MiniLM layers fine-tuned, int8, a few ms): `transformer.onnx` with
  `transformer.onnx.data`, `transformer.h5` (the Keras weights) and `detector.npz`, the
  out-of-scope detector over its features (`nlu.detector`).

The recipe says which tiers it has: `fast`, `transformer`, or `cascade` (both: the fast tier
answers a text when its confidence clears the cut chosen on validation, the transformer answers the
rest). Every parse result names the tier that answered. Artifacts of contracts 1 and 2 are fast
artifacts without the word.

`load_model(folder, runtime)` reads it with a runtime: `ONNX` here (ONNX Runtime, imported only when
asked for), or one passed in, such as the Keras runtime of the training side
(`training_jobs.keras_runtime.KERAS`): this package never imports its consumers.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .detector import DETECTOR_FILE, Detector, load_detector
from .errors import ArtifactError
from .spans import decode_entities
from .tokenizer import Piece, WordPieceTokenizer

# The contract an artifact was written for; bump it when the layout or the model's inputs or
# outputs change. 2: the ONNX graph has no padding mask, so it takes texts of one length only.
# 3: recipes (fast, transformer, cascade), the transformer tier's files and the detector.
CONTRACT = 3
SERVED_CONTRACTS = (1, 2, 3)  # this service never pads, so contract 1's masked graphs work too
METADATA, METRICS = "metadata.json", "metrics.json"
KERAS_FILE, ONNX_FILE, ONNX_DATA = "model.h5", "model.onnx", "model.onnx.data"  # the fast tier
TRANSFORMER_ONNX, TRANSFORMER_DATA, TRANSFORMER_KERAS = "transformer.onnx", "transformer.onnx.data", "transformer.h5"
FAST, TRANSFORMER, CASCADE = "fast", "transformer", "cascade"
RECIPES = {FAST: (FAST,), TRANSFORMER: (TRANSFORMER,), CASCADE: (FAST, TRANSFORMER)}  # recipe -> its tiers
DEFAULT_RECIPE = CASCADE  # what `train`, the worker and the Models page's Train form use unless told
TOP_K = 5

# A tier's graph: token ids [B, T] (texts of one length, unpadded) -> intent probabilities [B, C],
# tag probabilities [B, T, K] and features [B, D] (None where the tier has none).
TierRun = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class Runtime:
    """How to run a tier's graph: its name, the files of each tier it reads, and the loader."""

    name: str
    files: Mapping[str, tuple[str, ...]]  # tier -> the files it needs
    load: Callable[[Path, str, dict], TierRun]  # (folder, tier, metadata) -> run


def _onnx_tier(folder: Path, tier: str, metadata: dict) -> TierRun:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = folder / ONNX.files[tier][0]
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types (InvalidProtobuf, Fail, NoSuchFile)
        raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({str(e).strip()[:300]})") from None
    names = [o.name for o in session.get_outputs()]
    outputs = [n for n in ("intent", "tags", "features") if n in names]
    if outputs[:2] != ["intent", "tags"]:
        raise ArtifactError(f"{path}: the graph has outputs {names}, not intent and tags")

    def run(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        got = [np.asarray(o) for o in session.run(outputs, {"token_ids": ids})]  # the graph's are dense
        return got[0], got[1], got[2] if len(got) > 2 else None

    return run


ONNX = Runtime("onnx", {FAST: (ONNX_FILE, ONNX_DATA), TRANSFORMER: (TRANSFORMER_ONNX, TRANSFORMER_DATA)}, _onnx_tier)


def recipe_of(meta: dict) -> str:
    return meta.get("recipe", FAST)


def artifact_files(meta: dict, runtime: Runtime | None = None) -> tuple[str, ...]:
    """The files an artifact of this metadata has (every runtime's), or what `runtime` reads."""
    tiers = RECIPES.get(recipe_of(meta), ())
    if runtime is None:
        per_tier = {FAST: (ONNX_FILE, ONNX_DATA, KERAS_FILE),
                    TRANSFORMER: (TRANSFORMER_ONNX, TRANSFORMER_DATA, TRANSFORMER_KERAS)}
    else:
        per_tier = runtime.files
    names = [METADATA, METRICS] + [f for t in tiers for f in per_tier[t]]
    if meta.get("detector"):
        names.append(DETECTOR_FILE)
    return tuple(names)


def read_metadata(folder: str | Path, check_contract: bool = True) -> dict:
    path = Path(folder) / METADATA
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder}: no {METADATA}: not a model artifact") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not UTF-8 text") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: not a JSON object")
    if check_contract and meta.get("contract") not in SERVED_CONTRACTS:
        raise ArtifactError(f"{path}: contract {meta.get('contract')!r}, this service speaks {SERVED_CONTRACTS}")
    if check_contract and recipe_of(meta) not in RECIPES:
        raise ArtifactError(f"{path}: recipe {recipe_of(meta)!r} is unknown; this service serves "
                            f"{', '.join(RECIPES)}")
    return meta


class Raw(NamedTuple):
    """One text's model outputs, before decoding: what the service caches per token ids."""

    tier: str
    intent: np.ndarray  # [C]
    tags: np.ndarray  # [T, K]
    in_scope: float | None  # the detector's score; None where no detector looked


@dataclass
class TierStats:
    """Per tier: texts answered, and the time of each call of its graph (the last 2,048)."""

    answered: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, tier: str, answered: int, seconds: float | None) -> None:
        with self.lock:
            self.answered[tier] = self.answered.get(tier, 0) + answered
            if seconds is not None:
                times = self.seconds.setdefault(tier, [])
                times.append(seconds)
                del times[:-2048]

    def summary(self) -> dict:
        with self.lock:
            total = sum(self.answered.values())
            out: dict = {"texts": total}
            for tier in sorted(set(self.answered) | set(self.seconds)):
                times = np.array(self.seconds.get(tier) or [np.nan]) * 1000
                out[tier] = {"answered": self.answered.get(tier, 0),
                             "p50_ms": _ms(np.percentile(times, 50)), "p95_ms": _ms(np.percentile(times, 95))}
            if TRANSFORMER in self.answered and FAST in self.seconds:
                out["share_escalated"] = round(self.answered[TRANSFORMER] / total, 4) if total else None
            return out


def sureness(raw: Raw) -> float:
    """How sure a tier is of a whole parse: its intent's probability, or the least probable of its
    tokens' tags if that is lower. The cascade's fast tier answers when this clears the cut."""
    tags = float(raw.tags.max(-1).min()) if raw.tags.size else 1.0
    return min(float(raw.intent.max()), tags)


def _ms(value: float | np.floating) -> float | None:
    return None if np.isnan(value) else round(float(value), 3)


@dataclass
class Model:
    """A loaded version: tokenizer, tiers and labels. `parse` is safe to call from many threads."""

    version: str
    metadata: dict
    metrics: dict
    tokenizer: WordPieceTokenizer
    tiers: dict[str, TierRun]
    runtime_name: str
    detector: Detector | None = None
    stats: TierStats = field(default_factory=TierStats)

    def __post_init__(self) -> None:
        self.recipe: str = recipe_of(self.metadata)
        self.intents: list[str] = self.metadata["intents"]
        self.tags: list[str] = self.metadata["tags"]
        self.threshold: float = float(self.metadata.get("threshold") or 0.0)
        self.oos_label: str = self.metadata.get("oos_label", "oos")
        self.synonyms: dict = self.metadata.get("synonyms", {})
        self.cut: float = float((self.metadata.get("cascade") or {}).get("cut", 0.0))
        self.detector_threshold = float((self.metadata.get("detector") or {}).get("threshold") or 0.0)
        ids = self.tokenizer.ids
        self.wrap = (ids.get("[CLS]"), ids.get("[SEP]"))

    def tokenize(self, text: str) -> list[Piece]:
        return self.tokenizer.tokenize(text)

    def _run(self, tier: str, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
        started = time.perf_counter()
        if tier == TRANSFORMER:
            cls, sep = self.wrap
            intent, tags, features = self.tiers[tier](np.array([[cls, *r, sep] for r in rows], dtype=np.int32))
            tags = tags[:, 1:-1]
        else:
            intent, tags, features = self.tiers[tier](np.array(rows, dtype=np.int32))
        return intent, tags, features, time.perf_counter() - started

    def _grouped(self, tier: str, rows: list[list[int]], members: list[int], timings: dict | None = None):
        """Run `tier` over the texts `members`, those of one length together (nothing is padded:
        the ONNX graphs have no padding mask); yields (group, intent, tags, features) and records
        the time (in `timings` too, by tier, when given)."""
        by_length: dict[int, list[int]] = {}
        for i in members:
            by_length.setdefault(len(rows[i]), []).append(i)
        spent = 0.0
        for group in by_length.values():
            intent, tags, features, seconds = self._run(tier, [rows[i] for i in group])
            spent += seconds
            yield group, intent, tags, features
        self.stats.record(tier, 0, spent if members else None)
        if timings is not None and members:
            timings[tier] = timings.get(tier, 0.0) + spent

    def _rows(self, batch: Sequence[Sequence[Piece]]) -> list[list[int]]:
        return [[p.id for p in pieces] or [self.tokenizer.unk_id] for pieces in batch]  # empty: one [UNK]

    def infer(self, batch: Sequence[Sequence[Piece]], tier: str | None = None,
              timings: dict | None = None) -> list[Raw]:
        """Raw outputs per tokenised text: the recipe's way (the cascade escalates what the fast
        tier is not sure of), or one `tier` for every text (calibration, benchmarks). `timings`:
        filled with the seconds each tier took."""
        rows = self._rows(batch)
        raw: list = [None] * len(rows)
        first = tier or RECIPES[self.recipe][0]
        pending = list(range(len(rows)))
        while pending:
            escalate = []
            for group, intent, tags, features in self._grouped(first, rows, pending, timings):
                scores = self.detector.score(features) if (self.detector and features is not None) else None
                for j, i in enumerate(group):
                    score = None if scores is None else float(scores[j])
                    raw[i] = Raw(first, intent[j], tags[j, :len(batch[i])], score)
                    if tier is None and self.recipe == CASCADE and first == FAST and sureness(raw[i]) < self.cut:
                        escalate.append(i)
            pending, first = escalate, TRANSFORMER
        for name in ((tier,) if tier else RECIPES[self.recipe]):
            self.stats.record(name, sum(1 for r in raw if r.tier == name), None)
        return raw

    def features(self, batch: Sequence[Sequence[Piece]]) -> np.ndarray:
        """The transformer tier's features [N, D] of each text (what the detector reads)."""
        rows = self._rows(batch)
        out: list = [None] * len(rows)
        for group, _, _, features in self._grouped(TRANSFORMER, rows, list(range(len(rows)))):
            if features is None:
                raise ArtifactError("the transformer tier's graph has no features output")
            for j, i in enumerate(group):
                out[i] = features[j]
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def out_of_scope(self, raw: Raw, top_name: str, top_confidence: float) -> bool:
        if top_name == self.oos_label:
            return True
        if raw.tier == FAST and self.recipe == CASCADE:
            return False  # it answers only what it is sure of (the cut); the rest went on
        if raw.in_scope is not None:
            return raw.in_scope < self.detector_threshold
        return top_confidence < self.threshold

    def result(self, text: str, pieces: Sequence[Piece], raw: Raw) -> dict:
        order = np.argsort(-raw.intent)[:TOP_K]
        ranking = [{"name": self.intents[i], "confidence": round(float(raw.intent[i]), 4)} for i in order]
        top = ranking[0]
        out_of_scope = self.out_of_scope(raw, top["name"], top["confidence"])
        intent = {"name": self.oos_label, "confidence": top["confidence"]} if out_of_scope else top
        return {
            "text": text,
            "intent": intent,
            "intent_ranking": ranking,
            "out_of_scope": bool(out_of_scope),
            "entities": decode_entities(text, pieces, raw.tags, self.tags, self.synonyms),
            "tier": raw.tier,
        }

    def parse(self, texts: Sequence[str], tier: str | None = None) -> list[dict]:
        batch = [self.tokenize(t) for t in texts]
        return [self.result(t, p, raw) for t, p, raw in zip(texts, batch, self.infer(batch, tier))]

    def describe(self) -> dict:
        return {
            "name": "nlu",
            "version": self.version,
            "recipe": self.recipe,
            "runtime": self.runtime_name,
            "intents": self.intents,
            "entities": sorted({t[2:] for t in self.tags if t != "O"}),
            "out_of_scope": {"mode": self.metadata.get("oos_mode"), "threshold": self.threshold,
                             "detector": self.metadata.get("detector")},
            "cascade": self.metadata.get("cascade"),
            "tiers": self.stats.summary(),
            "metrics": self.metrics,
            "data_hash": self.metadata.get("data_hash"),
            "created": self.metadata.get("created"),
        }


def load_model(folder: str | Path, runtime: Runtime = ONNX) -> Model:
    """The artifact in `folder`, served by `runtime`. Anything missing or unreadable is an
    ArtifactError naming the file, raised before a model is returned (a service keeps serving
    the version it had)."""
    folder = Path(folder)
    if not isinstance(runtime, Runtime):
        raise ArtifactError(f"unknown runtime {runtime!r}: pass nlu.artifact.ONNX or another Runtime "
                            "(the Keras one: training_jobs.keras_runtime.KERAS)")
    meta = read_metadata(folder)
    missing = [name for name in artifact_files(meta, runtime) if name != METRICS and not (folder / name).exists()]
    if missing:
        raise ArtifactError(f"{folder}: no {', '.join(missing)} for the {runtime.name} runtime "
                            f"(recipe {recipe_of(meta)})")
    metrics_path = folder / METRICS
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    tokenizer = _tokenizer(folder, meta)
    tiers = {tier: runtime.load(folder, tier, meta) for tier in RECIPES[recipe_of(meta)]}
    detector = load_detector(folder / DETECTOR_FILE) if meta.get("detector") else None
    model = Model(meta["version"], meta, metrics, tokenizer, tiers, runtime.name, detector)
    model.parse(["warm up"])  # first-call allocations happen here, not in a customer's request
    model.stats = TierStats()
    return model


def _tokenizer(folder: Path, meta: dict) -> WordPieceTokenizer:
    for key in ("version", "intents", "tags", "vocab"):
        if key not in meta:
            raise ArtifactError(f"{folder / METADATA}: no {key!r}")
    try:
        tokenizer = WordPieceTokenizer(meta["vocab"], max_tokens=int(meta.get("max_tokens", 128)))
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"{folder / METADATA}: its tokenizer vocabulary is unusable ({e})") from None
    if TRANSFORMER in RECIPES[recipe_of(meta)] and not {"[CLS]", "[SEP]"} <= tokenizer.ids.keys():
        raise ArtifactError(f"{folder / METADATA}: the vocabulary lacks [CLS] or [SEP], which the transformer needs")
    return tokenizer
