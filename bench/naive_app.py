"""Baseline (a): how the old system served: a Flask handler calling Keras `model.predict` per request.

Same model file, same tokenizer and same response shape as the real service, so the only
difference measured is the serving path. Run: NLU_MODEL_DIR=... gunicorn bench.naive_app:app
"""
import os
from pathlib import Path

from flask import Flask, jsonify, request

from nlu.artifact import Model, read_metadata
from nlu.tokenizer import WordPieceTokenizer
from training_jobs.keras_runtime import load_keras_model

folder = Path(os.environ["NLU_MODEL_DIR"])
meta = read_metadata(folder)
keras_model = load_keras_model(folder)
model = Model(meta["version"], meta, {}, WordPieceTokenizer(meta["vocab"]),
              lambda ids: tuple(keras_model.predict(ids, verbose=0)), "keras-predict")
app = Flask(__name__)


@app.get("/readyz")
def readyz():
    return jsonify({"status": "ready"})


@app.post("/v1/models/nlu:parse")
def parse():
    text = request.get_json()["text"]
    return jsonify({"model_version": model.version, **model.parse([text])[0]})
