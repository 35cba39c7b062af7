"""`python -m devstack.standins`: the four stand-ins served from one process (what `make run` and the
stand-ins' image run); keys and tokens come from the app's settings in the environment."""
from __future__ import annotations

import argparse
import os
import threading

from werkzeug import serving

from devstack.standins.qna import qna_app
from devstack.standins.sendbird import sendbird_app
from devstack.standins.shop import shop_app
from devstack.standins.webchat import webchat_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.standins", description=(__doc__ or "").partition("\n")[0])
    for name, port in (("shop", 7101), ("qna", 7102), ("sendbird", 7103), ("webchat", 7100)):
        parser.add_argument(f"--{name}-port", type=int, default=port)
    parser.add_argument("--functions-url", default="http://127.0.0.1:7071", help="as the browser reaches it")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    args = parser.parse_args(argv)
    env = os.environ
    apps = {
        args.shop_port: shop_app(env.get("SHOP_API_KEY", "local-shop-key")),
        args.qna_port: qna_app(env.get("QNA_API_KEY", "local-qna-key"), project=env.get("QNA_PROJECT", "retail-faq"),
                               job_seconds=0.5),
        args.sendbird_port: sendbird_app(env.get("SENDBIRD_API_TOKEN", "local-sendbird-token")),
        args.webchat_port: webchat_app(args.functions_url),
    }
    servers = [serving.make_server(args.host, port, app, threaded=True) for port, app in apps.items()]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
