"""Command line: train, evaluate, register, promote, rollback, versions.

    python -m training_jobs train --data PATH --out DIR [--recipe fast|transformer|cascade] [--epochs N] [--seed N]
                                  [--oos-mode class|threshold|none] [--transformer-layers N]
    python -m training_jobs evaluate --model DIR --data PATH [--split test] [--runtime onnx|keras]
    python -m training_jobs register --model DIR [--registry LOC]
    python -m training_jobs promote VERSION [--registry LOC]
    python -m training_jobs rollback [--registry LOC]
    python -m training_jobs versions [--registry LOC]
    python -m training_jobs bootstrap --data PATH --out DIR [--registry LOC]
    python -m training_jobs worker

The worker takes training requests from the `training-requests` queue (settings from the
environment: training_jobs/worker.py).

A registry LOC is a folder or azure://CONTAINER (connection string from the environment); it
defaults to $NLU_REGISTRY. Under `horovodrun`, `train` runs data-parallel across the ranks.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from nlu.artifact import DEFAULT_RECIPE, FAST, RECIPES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training_jobs", description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write an artifact folder")
    t.add_argument("--data", required=True, help=".yml/.yaml, .csv (text,intent), CLINC150 .json or a SNIPS folder")
    t.add_argument("--out", required=True)
    t.add_argument("--recipe", choices=tuple(RECIPES), default=DEFAULT_RECIPE,
                   help=f"fast: static vectors + CNN (~0.15 ms); transformer: six MiniLM layers fine-tuned, int8 "
                        f"(a few ms); cascade: both, the fast tier answering what it is sure of (default: "
                        f"{DEFAULT_RECIPE})")
    t.add_argument("--epochs", type=int, help="epochs of the recipe's transformer tier (default: enough updates "
                                              "for the data, 6 to 40), or of the fast tier in the fast recipe "
                                              "(default: 30, more on small data sets)")
    t.add_argument("--transformer-layers", type=int, choices=range(1, 7), metavar="1-6",
                   default=os.environ.get("SWITCHBOARD_TRANSFORMER_LAYERS", "6"),
                   help="keep the first N of the encoder's six layers (default 6, or $SWITCHBOARD_TRANSFORMER_LAYERS)")
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--oos-mode", choices=("class", "threshold", "none"),
                   help="out-of-scope detection: an oos class (default when the data has oos examples), "
                        "a confidence threshold chosen on validation (default otherwise), or none")
    t.add_argument("--batch-size", type=int, help="default: 64, smaller on small data sets")
    e = sub.add_parser("evaluate", help="print metrics of an artifact on a data split as JSON")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test")
    e.add_argument("--runtime", choices=("onnx", "keras"), default="onnx")
    for name, help_ in (("register", "upload an artifact as the next version"),
                        ("promote", "point production at a version"),
                        ("rollback", "point production back at the version before"),
                        ("versions", "list versions and the production pointer"),
                        ("bootstrap", "give an empty registry a production version: train (unless --out "
                                      "already holds an artifact), register, promote")):
        r = sub.add_parser(name, help=help_)
        r.add_argument("--registry", default=os.environ.get("NLU_REGISTRY"))
        if name == "register":
            r.add_argument("--model", required=True)
        if name == "promote":
            r.add_argument("version")
        if name == "bootstrap":
            r.add_argument("--data", required=True)
            r.add_argument("--out", required=True, help="the artifact folder (trained there when missing)")
            r.add_argument("--seed", type=int, default=13)
            r.add_argument("--recipe", choices=tuple(RECIPES), default=DEFAULT_RECIPE)
    sub.add_parser("worker", help="run the training worker: requests from the training-requests queue "
                                  "-> data set -> training -> register -> gate -> promote -> notify")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nlu.artifact import ArtifactError
    from nlu.dataset import DataError
    from nlu.registry import RegistryError

    try:
        return COMMANDS[args.command](args)
    except DataError as e:
        print(f"error: bad training data: {e}", file=sys.stderr)
        return 2
    except (ArtifactError, RegistryError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _train(args) -> int:
    from nlu import dataset as data

    from .evaluate import summary
    from .train import train

    metrics = train(data.load(args.data), args.out, train_config(args))
    if metrics is not None:
        print(json.dumps({"artifact": args.out, **summary(metrics), "training": metrics["training"]}, indent=1))
    return 0


def train_config(args):
    """The TrainConfig the command line asks for: `--epochs` goes to the recipe's slowest tier."""
    import dataclasses

    from .finetune import FinetuneConfig
    from .train import TrainConfig

    if not 1 <= args.transformer_layers <= 6:  # from $SWITCHBOARD_TRANSFORMER_LAYERS: argparse checks no default
        raise ValueError(f"SWITCHBOARD_TRANSFORMER_LAYERS={args.transformer_layers}: a number of layers from 1 to 6")
    transformer = FinetuneConfig(layers=args.transformer_layers)
    if args.recipe == FAST:
        return TrainConfig(recipe=FAST, epochs=args.epochs, seed=args.seed, oos_mode=args.oos_mode,
                           batch_size=args.batch_size)
    return TrainConfig(recipe=args.recipe, seed=args.seed, oos_mode=args.oos_mode, batch_size=args.batch_size,
                       transformer=dataclasses.replace(transformer, epochs=args.epochs))


def _evaluate(args) -> int:
    from nlu import dataset as data
    from nlu.artifact import load_model

    from .evaluate import evaluate

    dataset = data.load(args.data)
    if args.split not in dataset.splits:
        raise ValueError(f"{args.data} has no split {args.split!r}; it has {', '.join(dataset.splits)}")
    if args.runtime == "keras":
        from .keras_runtime import KERAS as runtime
    else:
        from nlu.artifact import ONNX as runtime
    model = load_model(args.model, runtime)
    print(json.dumps({"model_version": model.version, "split": args.split,
                      **evaluate(model, dataset.splits[args.split])}, indent=1))
    return 0


def _registry(args):
    from nlu.registry import RegistryError, open_registry

    if not args.registry:
        raise RegistryError("no registry: pass --registry LOC or set NLU_REGISTRY")
    return open_registry(args.registry)


def _register(args) -> int:
    print(json.dumps({"registered": _registry(args).register(args.model)}))
    return 0


def _promote(args) -> int:
    from switchboard.errors import ConflictError

    try:
        print(json.dumps({"production": _registry(args).promote(args.version)}))
    except ConflictError:
        print("error: production changed while promoting (another promotion won); check and retry",
              file=sys.stderr)
        return 3
    return 0


def _rollback(args) -> int:
    print(json.dumps({"production": _registry(args).rollback()}))
    return 0


def _versions(args) -> int:
    reg = _registry(args)
    doc, _ = reg.production()
    print(json.dumps({"versions": reg.versions(), "production": doc}, indent=1))
    return 0


def _bootstrap(args) -> int:
    """What a fresh stack runs first (`make run`, docker-compose): idempotent, so safe on every start."""
    from pathlib import Path

    registry = _registry(args)
    doc, _ = registry.production()
    if doc:  # the common case, on every start: answer without importing TensorFlow
        print(json.dumps({"production": doc, "bootstrapped": False}))
        return 0
    if not (Path(args.out) / "metadata.json").exists():
        from nlu import dataset as data

        from .train import TrainConfig, train

        print(f"the registry has no production version: training {args.data} into {args.out}", file=sys.stderr)
        train(data.load(args.data), args.out, TrainConfig(recipe=args.recipe, seed=args.seed))
    version = registry.register(args.out)
    print(json.dumps({"production": registry.promote(version), "bootstrapped": True}))
    return 0


def _worker(args) -> int:
    from .worker import main as worker_main

    return worker_main()


COMMANDS = {"worker": _worker, "train": _train, "evaluate": _evaluate, "register": _register, "promote": _promote,
            "rollback": _rollback, "versions": _versions, "bootstrap": _bootstrap}

if __name__ == "__main__":
    raise SystemExit(main())
