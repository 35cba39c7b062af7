"""`python -m devstack run`: the whole system on this machine (what `make run` calls).

Starts Azurite, the Cosmos DB stand-in, the NLU service (training and promoting the demo model
first when the registry is empty), the stand-ins of the shop, QnA and SendBird APIs, the web chat
page, the local functions host, the admin site and the training worker; prints where to open them; Ctrl-C stops
everything (and so does the launcher's death: see devstack/watchdog.py). Each port can be moved by a
setting (DEVSTACK_ADMIN_PORT, ...: devstack.stack.port_setting); one already in use stops it before
anything starts.

`python -m devstack create-user NAME --role admin` creates an admin site user in the running
stack (the password is asked for), with the stack's own settings.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from devstack.app_loader import local_settings
from devstack.stack import ROOT, Ports, Stack, StackError, app_settings

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("command", choices=["run", "create-user"])
    parser.add_argument("name", nargs="?", help="create-user: the new user's name")
    parser.add_argument("--role", choices=["viewer", "agent", "editor", "admin"], default="admin")
    parser.add_argument("--var", type=Path, default=ROOT / "var" / "devstack",
                        help="where the emulators keep their data and every process its log")
    parser.add_argument("--model", type=Path, help="the NLU model artifact to register when the registry is "
                                                   "empty (default: train the demo model)")
    args = parser.parse_args(argv)
    ports = Ports.from_env()
    # function_app/local.settings.json, the file Core Tools' `func start` reads, feeds this host too;
    # where a port was moved, the addresses that name it follow (its values name the default ports)
    values, cors = local_settings(ROOT / "function_app")
    moved = dict(app_settings(ports).items() - app_settings(Ports()).items())
    if cors and ports.webchat != Ports().webchat:
        cors += f",http://127.0.0.1:{ports.webchat},http://localhost:{ports.webchat}"
    stack = Stack(args.var, ports, model=args.model, functions_env={**values, **moved}, cors=cors or "*")
    if args.command == "create-user":
        if not args.name:
            parser.error("create-user needs a NAME")
        command = [sys.executable, "-m", "admin_site", "create-user", args.name, "--role", args.role]
        return subprocess.run(command, cwd=ROOT, env={**os.environ, **stack.admin_settings()}).returncode
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    _stop_with_parent()
    try:
        stack.check_ports()
        for name in stack.order:
            print(f"starting {name} ...", flush=True)
            stack.start(name)
    except (StackError, OSError) as e:
        print(f"could not start the stack: {e}")
        stack.stop_all()
        return 1
    processes = stack.trainer_settings()["TRAINING_PROCESSES"]
    print(f"""
Switchboard is running (logs in {args.var / 'logs'}):

  web chat page         http://127.0.0.1:{ports.webchat}/
  functions host        http://127.0.0.1:{ports.functions}/api/
                        (SendBird webhook: /api/channels/sendbird/webhook)
  NLU service           http://127.0.0.1:{ports.nlu}/v1/models/nlu  (send its key, made for this run:
                        -H "Authorization: Bearer $(cat {stack.nlu_key_file})")
  SendBird stand-in     http://127.0.0.1:{ports.sendbird}/__standin/sent  (what the bot sent)
  shop API stand-in     http://127.0.0.1:{ports.shop}/products
  QnA stand-in          http://127.0.0.1:{ports.qna}/language/:query-knowledgebases
  Azurite               blob :{ports.blob}, queue :{ports.queue};  Cosmos DB stand-in http://127.0.0.1:{ports.cosmos}
  admin site            http://127.0.0.1:{ports.admin}/  (Models: /models/, where Train runs the worker)
  training worker       python -m training_jobs worker: {processes} Horovod processes here
                        (log: {stack.log_path('trainer')})""",
          flush=True)
    if _admin_users(ports) == 0:
        print("""
  No admin site user yet. Create the first admin (in another terminal; the password is asked for):
      .venv/bin/python -m devstack create-user YOUR-NAME --role admin""", flush=True)
    print("\nPress Ctrl-C to stop.", flush=True)
    while not stopping.wait(1.0):
        for name, proc in list(stack.procs.items()):
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; see {stack.log_path(name)}. Stopping.")
                stopping.set()
    print("stopping ...", flush=True)
    stack.stop_all()
    return 0


def _stop_with_parent() -> None:
    """SIGTERM when the parent dies: `make run` killed, even by SIGKILL, must not leave this launcher,
    and so the stack, running. Linux only (prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _admin_users(ports: Ports) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.admin}/healthz", timeout=5) as answer:
            return json.load(answer).get("users")
    except OSError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
