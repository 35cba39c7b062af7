"""A short training run -> artifact -> both runtimes agree; the CLI's evaluate and its errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import DEMO_DATA, run_cli
from nlu import dataset as data
from nlu.artifact import CONTRACT, ONNX, load_model
from training_jobs.keras_runtime import KERAS, load_keras_model
from training_jobs.train import TrainConfig, prepare_splits, unbias_moving_average


def test_artifact_has_every_file_and_its_metadata(demo_model):
    for name in ("model.h5", "model.onnx", "model.onnx.data", "metadata.json", "metrics.json"):
        assert (demo_model / name).stat().st_size > 0, name
    meta = json.loads((demo_model / "metadata.json").read_text())
    dataset = data.load(DEMO_DATA)
    assert meta["intents"] == dataset.intents
    assert meta["data_hash"] == dataset.fingerprint()
    # no out-of-scope examples and a small validation split: no threshold (metrics.choose_threshold)
    assert meta["oos_mode"] == "threshold" and meta["threshold"] == 0.0
    assert meta["training"]["seed"] == 3
    steps = meta["training"]["epochs"] * (meta["training"]["train_examples"] // meta["training"]["batch_size"])
    assert steps >= 800  # small data still gets enough updates
    assert len(meta["vocab"]) == 30522
    # the weights live outside the graph file, so that the runtime can map them
    assert (demo_model / "model.onnx").stat().st_size < 100_000 < (demo_model / "model.onnx.data").stat().st_size
    metrics = json.loads((demo_model / "metrics.json").read_text())
    assert metrics["val"]["examples"] > 0


def test_onnx_and_keras_runtimes_give_the_same_answers(demo_model):
    # the validation and gate splits held out by that training run (seed 3): texts the model never saw
    splits = prepare_splits(data.load(DEMO_DATA), TrainConfig(seed=3))[0]
    held_out = splits["val"] + splits["test"]
    texts = [e.text for e in held_out] + ["Where is order X-99 and do you sell crimson Puma boots?"]
    assert len(held_out) >= 60 and not {e.text for e in held_out} & {e.text for e in splits["train"]}
    onnx_model, keras_model = load_model(demo_model, ONNX), load_model(demo_model, KERAS)
    a, b = onnx_model.parse(texts), keras_model.parse(texts)
    assert [r["intent"]["name"] for r in a] == [r["intent"]["name"] for r in b]
    assert [[(e["entity"], e["start"], e["end"]) for e in r["entities"]] for r in a] == \
           [[(e["entity"], e["start"], e["end"]) for e in r["entities"]] for r in b]
    conf_a = np.array([r["intent"]["confidence"] for r in a])
    conf_b = np.array([r["intent"]["confidence"] for r in b])
    assert np.allclose(conf_a, conf_b, atol=2e-4)


def test_a_text_alone_or_in_a_batch_gets_the_same_result(demo_model):
    model = load_model(demo_model)
    texts = ["where is my order A-1234", "do you have red Nike running shoes in stock please today",
             "hi", "where is my order C-9", "hello"]
    alone = [model.parse([t])[0] for t in texts]
    assert model.parse(texts) == alone


def test_padding_in_a_training_batch_changes_nothing(demo_model):
    """Training pads batches; the masks must keep a padded text's outputs what they are alone."""
    keras_model = load_keras_model(demo_model)
    short, long = [7, 8, 9], [11, 12, 13, 14, 15, 16]
    padded = keras_model(np.array([short + [0, 0, 0], long], np.int32), training=False)
    alone = keras_model(np.array([short], np.int32), training=False)
    assert np.allclose(padded[0][0], alone[0][0], atol=1e-6)
    assert np.allclose(padded[1][0, :3], alone[1][0], atol=1e-6)


def test_the_onnx_export_is_checked_against_the_keras_model(demo_model):
    from onnx import numpy_helper

    from training_jobs.export import check_same_outputs, lean_graph
    from training_jobs.model import ModelConfig

    keras_model = load_keras_model(demo_model)
    proto = lean_graph(keras_model, ModelConfig())
    check_same_outputs(keras_model, proto, 30522)  # a faithful graph passes
    [bias] = [t for t in proto.graph.initializer if t.name == "conv1_b"]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 0.05, bias.name))
    with pytest.raises(RuntimeError, match="ONNX export differs from the Keras model"):
        check_same_outputs(keras_model, proto, 30522)


def test_the_trained_model_has_learned_the_demo(demo_model):
    """A user-visible sanity check: a training utterance comes back with its intent and entity."""
    model = load_model(demo_model)
    result = model.parse(["where is my order B-5521"])[0]
    assert result["intent"]["name"] == "order_status"
    assert [(e["entity"], e["value"]) for e in result["entities"]] == [("order_id", "B-5521")]


def test_evaluate_prints_metrics_json(demo_model):
    out = run_cli("evaluate", "--model", str(demo_model), "--data", str(DEMO_DATA), "--split", "train")
    metrics = json.loads(out.stdout)
    for key in ("intent_accuracy", "in_scope_accuracy", "oos_recall", "intent_macro_f1",
                "entity_precision", "entity_recall", "entity_f1", "per_intent_f1", "most_confused"):
        assert key in metrics
    assert metrics["intent_accuracy"] > 0.9
    assert metrics["oos_recall"] is None  # the demo data has no out-of-scope examples


@pytest.mark.stack
@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nope.yml", "--out", "x"], "nope.yml: path: no such file or folder"),
    (["evaluate", "--model", "training_jobs", "--data", str(DEMO_DATA), "--split", "train"],
     "no metadata.json: not a model artifact"),
    (["promote", "1.0.0"], "no registry: pass --registry"),
])
def test_cli_errors_are_one_clear_line(args, message, tmp_path):
    proc = run_cli(*args, check=False, env={"NLU_REGISTRY": ""})
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.stack
def test_train_on_bad_data_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    shutil.copy(DEMO_DATA, bad)
    bad.write_text(bad.read_text().replace("- where is my order\n", "- where is [my order\n", 1))
    proc = run_cli("train", "--data", str(bad), "--out", str(tmp_path / "m"), check=False)
    assert proc.returncode == 2
    assert f"{bad}: line " in proc.stderr and "unbalanced annotation bracket" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_bootstrap_promotes_into_an_empty_registry_once(demo_model, tmp_path):
    registry = str(tmp_path / "registry")
    args = ("bootstrap", "--registry", registry, "--data", str(DEMO_DATA), "--out", str(demo_model))
    first = json.loads(run_cli(*args).stdout)
    assert first["bootstrapped"] is True and first["production"]["version"] == f"{CONTRACT}.0.0"
    again = json.loads(run_cli(*args).stdout)
    assert again["bootstrapped"] is False and again["production"]["version"] == f"{CONTRACT}.0.0"


def test_the_moving_average_loses_its_initial_weights():
    """Keras seeds the weights' moving average with the initial weights; after 300 steps at 0.999
    they are still 74 % of it. The shipped weights must be the trained ones."""
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    initial = [v.numpy() for v in model.trainable_variables]
    trained = [np.full_like(w, 3.0) for w in initial]
    share = 0.999 ** 300
    for var, w0, w in zip(model.trainable_variables, initial, trained):
        var.assign(share * w0 + (1 - share) * w)  # the average of a run that sat at `trained`
    unbias_moving_average(model, initial, share)
    for var, w in zip(model.trainable_variables, trained):
        np.testing.assert_allclose(var.numpy(), w, rtol=1e-5)
