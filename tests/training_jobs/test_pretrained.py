"""The static vectors distilled from MiniLM keep its word semantics (what the intent head builds on)."""
from __future__ import annotations

import numpy as np

from training_jobs import pretrained


def test_weights_are_read_from_the_installed_package():
    weights = pretrained.read_safetensors(pretrained.model_dir() / "model.safetensors")
    assert weights["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert len([k for k in weights if k.endswith("attention.self.query.weight")]) == 6


def test_distilled_vectors_put_related_words_together():
    table = pretrained.static_embeddings(256)
    vocab = pretrained.vocab_path().read_text(encoding="utf-8").splitlines()
    ix = {w: i for i, w in enumerate(vocab)}
    assert table.shape == (30522, 256) and not table[0].any()  # [PAD] is zero

    def cos(a, b):
        u, v = table[ix[a]], table[ix[b]]
        return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))

    assert cos("colour", "color") > cos("colour", "order") + 0.2
    assert cos("parcel", "package") > cos("parcel", "weather") + 0.2
    assert cos("cancel", "cancellation") > cos("cancel", "hello") + 0.2
