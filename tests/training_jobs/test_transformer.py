"""The transformer tier and the cascade: a two-layer transformer trained on the demo catalogue,
exported to int8 ONNX past the parity check, served alone and behind the fast tier."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import DEMO_DATA
from nlu import dataset as data
from nlu.artifact import ONNX, TRANSFORMER_ONNX, ArtifactError, TierStats, artifact_files, load_model, read_metadata
from training_jobs.keras_runtime import KERAS
from training_jobs.train import TrainConfig, prepare_splits


def edited(src, dest, **changes):
    """A copy of an artifact with metadata fields changed."""
    shutil.copytree(src, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(meta.get(key), dict):
            meta[key].update(value)
        else:
            meta[key] = value
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def held_out():
    splits = prepare_splits(data.load(DEMO_DATA), TrainConfig(seed=3))[0]
    return splits["val"] + splits["test"]


def test_a_cascade_artifact_has_both_tiers_a_detector_and_its_parity_figures(cascade_model):
    meta = read_metadata(cascade_model)
    assert meta["recipe"] == "cascade" and meta["contract"] == 3
    for name in artifact_files(meta):
        assert (cascade_model / name).stat().st_size > 0, name
    assert meta["transformer"]["layers"] == 2
    parity = meta["transformer"]["parity"]
    assert parity["texts"] == len(held_out()) and parity["agreement"] >= round(1 - 1 / parity["texts"], 4)
    assert meta["detector"]["kind"] == "mahalanobis"
    # the demo's validation split (24 texts) cannot resolve the 0.2-point budget: the transformer answers all
    assert meta["cascade"]["cut"] > 1 and "the transformer answers every text" in meta["cascade"]["reason"]
    metrics = json.loads((cascade_model / "metrics.json").read_text())
    assert metrics["serving"]["transformer"]["p50_ms"] > 0
    assert metrics["val"]["intent_accuracy"] > 0.6, metrics["val"]


def test_every_result_names_the_tier_that_answered_and_the_cascade_escalates_below_its_cut(cascade_model, tmp_path):
    texts = ["where is my order B-5521", "do you sell red Nike running shoes", "hi", "qwerty asdf"]
    everything_fast = load_model(edited(cascade_model, tmp_path / "fast", cascade={"cut": 0.0}))
    assert {r["tier"] for r in everything_fast.parse(texts)} == {"fast"}
    everything_escalated = load_model(cascade_model)
    assert {r["tier"] for r in everything_escalated.parse(texts)} == {"transformer"}
    middle = load_model(edited(cascade_model, tmp_path / "middle", cascade={"cut": 0.9}))
    from nlu.artifact import sureness

    sure = [sureness(r) for r in middle.infer([middle.tokenize(t) for t in texts], "fast")]
    middle.stats = TierStats()
    parsed = middle.parse(texts)
    assert [r["tier"] for r in parsed] == ["fast" if s >= 0.9 else "transformer" for s in sure]
    stats = middle.stats.summary()
    assert stats["fast"]["answered"] + stats["transformer"]["answered"] == len(texts)
    assert stats["share_escalated"] == pytest.approx(sum(s < 0.9 for s in sure) / len(texts), abs=1e-4)


def test_the_int8_transformer_answers_as_the_keras_model_does(cascade_model):
    texts = [e.text for e in held_out()]
    onnx_model, keras_model = load_model(cascade_model, ONNX), load_model(cascade_model, KERAS)
    a, b = onnx_model.parse(texts, "transformer"), keras_model.parse(texts, "transformer")
    agree = np.mean([x["intent_ranking"][0]["name"] == y["intent_ranking"][0]["name"] for x, y in zip(a, b)])
    assert round(agree, 4) == read_metadata(cascade_model)["transformer"]["parity"]["agreement"]


def test_a_text_longer_than_the_window_is_cut_and_its_kept_spans_stay_exact(cascade_model):
    model = load_model(cascade_model)
    assert model.tokenizer.max_tokens == 128  # the window, 130 positions, less [CLS] and [SEP]
    text = "where is my order B-5521 " + "please " * 200 + "and order C-7777"
    [result] = model.parse([text])
    assert len(model.tokenize(text)) == 128
    for e in result["entities"]:
        assert text[e["start"]:e["end"]] == e["value"] or e["entity"] in model.synonyms
        assert e["end"] <= model.tokenize(text)[-1].end  # nothing past what was kept
    assert "C-7777" not in [e["value"] for e in result["entities"]]


@pytest.mark.parametrize("change, message", [
    (lambda d: edited(d, d.with_name("r"), recipe="ensemble"), "recipe 'ensemble' is unknown"),
    (lambda d: _without(d, TRANSFORMER_ONNX), "no transformer.onnx for the onnx runtime"),
    (lambda d: _overwrite(d, TRANSFORMER_ONNX, b"\x08\x01garbage"), "transformer.onnx: ONNX Runtime cannot load it"),
    (lambda d: _overwrite(d, "detector.npz", b"nothing"), "detector.npz: not a readable detector"),
    (lambda d: edited(d, d.with_name("v"), vocab=["[PAD]", "[UNK]", "hello"]), "lacks [CLS] or [SEP]"),
    (lambda d: edited(d, d.with_name("c"), contract=4), "contract 4, this service speaks"),
])
def test_a_broken_artifact_is_refused_at_load_with_the_reason(cascade_model, tmp_path, change, message):
    folder = change(shutil.copytree(cascade_model, tmp_path / "a") and tmp_path / "a")
    with pytest.raises(ArtifactError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_model(folder)


def _without(folder, name):
    (folder / name).unlink()
    return folder


def _overwrite(folder, name, content):
    (folder / name).write_bytes(content)
    return folder


def test_an_artifact_of_contract_2_still_serves(demo_model, tmp_path):
    """What the registry holds from before the tiers: contract 2, no recipe, the fast tier's files."""
    old = edited(demo_model, tmp_path / "old", contract=2)
    meta = json.loads((old / "metadata.json").read_text())
    meta.pop("recipe")
    (old / "metadata.json").write_text(json.dumps(meta))
    model = load_model(old)
    [result] = model.parse(["where is my order B-5521"])
    assert result["tier"] == "fast" and result["intent"]["name"] == "order_status"
    assert model.describe()["recipe"] == "fast"


def test_tier_statistics_summarise_answers_and_times():
    stats = TierStats()
    stats.record("fast", 0, 0.0002)
    stats.record("fast", 3, None)
    stats.record("transformer", 0, 0.002)
    stats.record("transformer", 1, None)
    summary = stats.summary()
    assert summary["texts"] == 4 and summary["share_escalated"] == 0.25
    assert summary["fast"] == {"answered": 3, "p50_ms": 0.2, "p95_ms": 0.2}


@pytest.mark.stack
def test_a_job_whose_int8_model_disagrees_fails_with_the_figures_and_writes_nothing(tmp_path, monkeypatch):
    """The parity check, broken on purpose: the int8 graph's intent head is scrambled after quantising."""
    import onnx

    from training_jobs import export_transformer
    from training_jobs.export import write_onnx
    from training_jobs.finetune import FinetuneConfig
    from training_jobs.train import train

    real = export_transformer.quantise

    def scrambled(proto, path, keep_float=()):
        real(proto, path, keep_float)
        graph = onnx.load(str(path))
        [head] = [t for t in graph.graph.initializer if t.name == "intent_w"]
        weights = onnx.numpy_helper.to_array(head)
        head.CopyFrom(onnx.numpy_helper.from_array(np.random.default_rng(0).permuted(weights, axis=1), head.name))
        write_onnx(graph, path)

    monkeypatch.setattr(export_transformer, "quantise", scrambled)
    out = tmp_path / "model"
    cfg = TrainConfig(recipe="transformer", seed=3, transformer=FinetuneConfig(layers=1, epochs=4))
    with pytest.raises(export_transformer.ParityError) as failed:
        train(data.load(DEMO_DATA), out, cfg)
    message = str(failed.value)
    assert message.startswith("parity check failed, quantised three ways")
    assert "of 73 held-out texts" in message and "the version was not registered" in message
    assert not out.exists() and not list(tmp_path.glob(".model-*"))


def test_the_keras_encoder_with_the_shipped_weights_computes_what_the_reference_bert_does():
    """The six Keras layers, loaded from the package's safetensors file, against the NumPy BERT
    forward pass that distils the fast tier's vectors (an independent implementation)."""
    import tensorflow as tf

    from training_jobs import pretrained
    from training_jobs.transformer import TransformerConfig, build, load_pretrained

    weights = pretrained.read_safetensors(pretrained.model_dir() / "model.safetensors")
    model = build(TransformerConfig(layers=6, dropout=0.0), n_intents=2, n_tags=1)
    load_pretrained(model, weights)
    encoder = tf.keras.Model(model.input, model.get_layer("layer5").output)
    w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
    cls, sep, ids = 101, 102, np.array([2023, 7592, 4937, 1037])
    reference = pretrained._encode_single_tokens(w, ids, cls, sep)
    ours = encoder.predict(np.stack([np.full(4, cls), ids, np.full(4, sep)], axis=1), verbose=0)[:, 1]
    np.testing.assert_allclose(ours, reference, atol=2e-4)
