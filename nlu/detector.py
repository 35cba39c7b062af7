"""The out-of-scope detector over the transformer tier's features (NumPy only).

Mahalanobis distance to the nearest intent (Lee et al. 2018; for fine-tuned transformers on
CLINC150, Podolskiy et al. 2021): each intent's mean feature vector and one covariance shared by
all intents, estimated from the training examples. A text far from every intent is out of scope,
whatever the softmax says. The distance is computed in whitened coordinates, so a score costs one
384 x 384 product and one 384 x C one (about 30 µs).

The score is `D / (D + d)` for the squared distance d in D dimensions: 1 at an intent's mean,
falling towards 0 far away. Higher is more in scope, like a confidence, so the threshold rule
for confidences (`training_jobs.metrics.choose_threshold`) calibrates it on validation as well.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ArtifactError

DETECTOR_FILE = "detector.npz"


class Detector(Protocol):
    def score(self, features: np.ndarray) -> np.ndarray: ...  # [B, D] -> [B], higher: more in scope


class Mahalanobis:
    kind = "mahalanobis"

    def __init__(self, whiten: np.ndarray, means: np.ndarray) -> None:
        self.whiten = np.ascontiguousarray(whiten, np.float32)  # [D, D]: x @ whiten has identity covariance
        self.means = np.ascontiguousarray(means, np.float32)  # [C, D], whitened
        self.mean_norms = (self.means ** 2).sum(1)

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, shrinkage: float = 0.05) -> Mahalanobis:
        """Class means and the shared within-class covariance, shrunk towards its mean variance
        (Ledoit-Wolf style) so that a small catalogue's estimate is still invertible."""
        features = np.asarray(features, np.float64)
        classes = np.unique(labels)
        means = np.stack([features[labels == c].mean(0) for c in classes])
        centred = features - means[np.searchsorted(classes, labels)]
        cov = centred.T @ centred / max(1, len(features) - len(classes))
        dim = cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / dim * np.eye(dim)
        values, vectors = np.linalg.eigh(cov)
        whiten = vectors / np.sqrt(np.maximum(values, 1e-12))
        return cls(whiten, means @ whiten)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to the nearest intent, [B]."""
        z = np.asarray(features, np.float32) @ self.whiten
        d = (z ** 2).sum(1)[:, None] - 2 * z @ self.means.T + self.mean_norms[None]
        return np.maximum(d.min(1), 0.0)

    def score(self, features: np.ndarray) -> np.ndarray:
        dim = self.whiten.shape[0]
        return dim / (dim + self.distances(features))

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, kind=np.array(self.kind), whiten=self.whiten, means=self.means)


def load_detector(path: Path) -> Detector:
    try:
        with np.load(path, allow_pickle=False) as data:
            kind = str(data["kind"])
            if kind != Mahalanobis.kind:
                raise ArtifactError(f"{path}: detector kind {kind!r} is unknown")
            whiten, means = data["whiten"], data["means"]
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ArtifactError(f"{path}: not a readable detector ({e})") from None
    if whiten.ndim != 2 or whiten.shape[0] != whiten.shape[1] or means.ndim != 2 or means.shape[1] != whiten.shape[1]:
        raise ArtifactError(f"{path}: detector arrays of shapes {whiten.shape} and {means.shape} do not fit")
    return Mahalanobis(whiten, means)
