"""`python -m inference_container serve (--model DIR | --registry URL) --port N` for development.

The keys callers must send (`Authorization: Bearer <key>`) come from NLU_API_KEYS in the environment,
never from an argument: a command line is visible to every user of the machine (ps, /proc).
"""
from __future__ import annotations

import argparse
import logging
import os

from .service import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_container")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the NLU API (development server, threaded)",
                           epilog="Callers send 'Authorization: Bearer <key>', a key of NLU_API_KEYS (the environment: "
                                  "one or more keys of 32+ characters, comma-separated).")
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a model artifact folder")
    source.add_argument("--registry", help="a registry: a folder, or azure://CONTAINER")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--runtime", choices=("onnx", "keras"), default="onnx")
    serve.add_argument("--poll-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from werkzeug.serving import run_simple

    from .app import KEYS_SETTING, create_app, read_api_keys

    app = create_app(Settings(model_dir=args.model, registry=args.registry, runtime=args.runtime,
                              poll_seconds=args.poll_seconds, api_keys=read_api_keys(os.environ.get(KEYS_SETTING))))
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
