"""A model artifact on disk and the parse it serves.

An artifact is a folder: `metadata.json` (version, labels, vocabulary, threshold, training
configuration, data hash), `metrics.json`, `model.onnx` with its weights in `model.onnx.data`,
and `model.h5`. `load_model` reads it with one of two runtimes and returns a `Model` whose
`parse` is the NLU contract. ONNX Runtime is imported only when that runtime is asked for, and
TensorFlow only by the Keras runtime, which lives on the training side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .spans import decode_entities
from .tokenizer import Piece, WordPieceTokenizer

# The contract an artifact was written for; bump it when the layout or the model's inputs or
# outputs change. 2: the ONNX graph has no padding mask, so it takes texts of one length only.
CONTRACT = 2
SERVED_CONTRACTS = (1, 2)  # this service never pads, so contract 1's masked graphs work too
METADATA, METRICS, KERAS_FILE = "metadata.json", "metrics.json", "model.h5"
ONNX_FILE, ONNX_DATA = "model.onnx", "model.onnx.data"  # graph; its weights, memory-mapped at load
RUNTIMES = ("onnx", "keras")
TOP_K = 5

Runtime = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class ArtifactError(RuntimeError):
    """An artifact folder that is missing files or does not fit this service's contract."""


def onnx_runtime(folder: Path) -> Runtime:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
    outputs = ["intent", "tags"]  # the Keras output layers' names, kept by the export

    def run(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intent, tags = session.run(outputs, {"token_ids": ids})
        return intent, tags

    return run


def keras_runtime(folder: Path) -> Runtime:
    """The Keras model as one compiled graph. Keras code lives on the training side (it needs
    TensorFlow and the model's layers, which the serving image has neither of)."""
    try:
        from training_jobs.keras_runtime import keras_runtime as training_keras_runtime
    except ImportError as e:
        raise ArtifactError(f"the keras runtime needs the training environment "
                            f"(pip install -r training_jobs/requirements.txt): {e}") from e
    return training_keras_runtime(folder)


_RUNTIME_LOADERS = {"onnx": onnx_runtime, "keras": keras_runtime}


def read_metadata(folder: str | Path, check_contract: bool = True) -> dict:
    path = Path(folder) / METADATA
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder}: no {METADATA}: not a model artifact") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: not valid JSON ({e.msg})") from None
    if check_contract and meta.get("contract") not in SERVED_CONTRACTS:
        raise ArtifactError(f"{path}: contract {meta.get('contract')!r}, this service speaks {SERVED_CONTRACTS}")
    return meta


@dataclass
class Model:
    """A loaded version: tokenizer, runtime and labels. `parse` is safe to call from many threads."""

    version: str
    metadata: dict
    metrics: dict
    tokenizer: WordPieceTokenizer
    runtime: Runtime
    runtime_name: str

    def __post_init__(self) -> None:
        self.intents: list[str] = self.metadata["intents"]
        self.tags: list[str] = self.metadata["tags"]
        self.threshold: float = float(self.metadata.get("threshold") or 0.0)
        self.oos_label: str = self.metadata.get("oos_label", "oos")
        self.synonyms: dict = self.metadata.get("synonyms", {})

    def tokenize(self, text: str) -> list[Piece]:
        return self.tokenizer.tokenize(text)

    def infer(self, batch: Sequence[Sequence[Piece]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Raw (intent probs [C], tag probs [T, K]) per tokenised text.

        Texts of one length run together and nothing is padded: the ONNX graph has no padding
        mask (training_jobs/export.py). A text without tokens reads as one unknown token.
        """
        rows = [[p.id for p in pieces] or [self.tokenizer.unk_id] for pieces in batch]
        by_length: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            by_length.setdefault(len(row), []).append(i)
        raw: list = [None] * len(rows)
        for members in by_length.values():
            intent, tags = self.runtime(np.array([rows[i] for i in members], dtype=np.int32))
            for j, i in enumerate(members):
                raw[i] = (intent[j], tags[j, : len(batch[i])])
        return raw

    def result(self, text: str, pieces: Sequence[Piece], intent_probs: np.ndarray, tag_probs: np.ndarray) -> dict:
        order = np.argsort(-intent_probs)[:TOP_K]
        ranking = [{"name": self.intents[i], "confidence": round(float(intent_probs[i]), 4)} for i in order]
        top = ranking[0]
        out_of_scope = top["name"] == self.oos_label or top["confidence"] < self.threshold
        intent = {"name": self.oos_label, "confidence": top["confidence"]} if out_of_scope else top
        return {
            "text": text,
            "intent": intent,
            "intent_ranking": ranking,
            "out_of_scope": bool(out_of_scope),
            "entities": decode_entities(text, pieces, tag_probs, self.tags, self.synonyms),
        }

    def parse(self, texts: Sequence[str]) -> list[dict]:
        batch = [self.tokenize(t) for t in texts]
        return [self.result(t, p, *raw) for t, p, raw in zip(texts, batch, self.infer(batch))]

    def describe(self) -> dict:
        return {
            "name": "nlu",
            "version": self.version,
            "runtime": self.runtime_name,
            "intents": self.intents,
            "entities": sorted({t[2:] for t in self.tags if t != "O"}),
            "out_of_scope": {"mode": self.metadata.get("oos_mode"), "threshold": self.threshold},
            "metrics": self.metrics,
            "data_hash": self.metadata.get("data_hash"),
            "created": self.metadata.get("created"),
        }


def load_model(folder: str | Path, runtime: str = "onnx") -> Model:
    folder = Path(folder)
    if runtime not in _RUNTIME_LOADERS:
        raise ArtifactError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    meta = read_metadata(folder)
    needed = ONNX_FILE if runtime == "onnx" else KERAS_FILE
    if not (folder / needed).exists():
        raise ArtifactError(f"{folder}: no {needed} for the {runtime} runtime")
    metrics_path = folder / METRICS
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    tokenizer = WordPieceTokenizer(meta["vocab"], max_tokens=int(meta.get("max_tokens", 128)))
    model = Model(meta["version"], meta, metrics, tokenizer, _RUNTIME_LOADERS[runtime](folder), runtime)
    model.parse(["warm up"])  # first-call allocations happen here, not in a customer's request
    return model
