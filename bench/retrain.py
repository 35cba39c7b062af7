"""Retraining benchmark on the real local stack (the launcher `make run` uses, on free ports):

1. Train -> answer: an admin has added an intent (examples and its QnA answer) and presses Train on the
   Models page (a POST with the session and CSRF token, as the browser sends it); the clock stops when
   the web chat gets the new intent's answer. Broken down by phase: queue (request -> worker), export,
   training (2 Horovod processes), registration, gate, promotion, load in the NLU service, answer.
   Target: <= 2 minutes on this 2-core machine.
2. Promotion under steady chat load (20 turns/s, signed webhooks): production switches to a retrained
   version and back, 10 s apart, while a second client parses straight against the NLU service.
   Counted: failed parse requests, lost and duplicated replies. Target: 0 and 0.
3. Horovod on this machine: the same training (SNIPS: the fast recipe 8 epochs, the transformer 1)
   with 1 and with 2 processes, each twice, interleaved: training samples per second and test accuracy.

    .venv/bin/python bench/retrain.py [--quick] [--recipe cascade]   (--quick: phase 1 only)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "function_app")]

from admin_site.services import build  # noqa: E402
from admin_site.settings import Settings  # noqa: E402
from bench.common import VAR, ensure_model, recorded, save  # noqa: E402
from bench.turns import Load  # noqa: E402
from devstack.stack import REGISTRY, Ports, Stack, storage_connection  # noqa: E402
from helpers import DATASETS, DEMO_DATA  # noqa: E402
from livestack import Live  # noqa: E402
from nlu.artifact import DEFAULT_RECIPE  # noqa: E402
from nlu.registry import open_registry  # noqa: E402

PASSWORD = "a benchmark password"
INTENT, ANSWER = "repairs", "Yes: bring it to any of our stores; most repairs take five working days."
EXAMPLES = ["do you repair shoes", "can you fix my broken zip", "my [nike](brand) trainers need repairing",
            "can you mend a torn jacket", "do you do repairs", "where can i get my boots resoled",
            "can you repair my [adidas](brand) bag", "is there a repair service", "can you fix a broken strap",
            "i need something mended"]
MESSAGE = "can you repair my old shoes"


class Admin:
    """The admin site as a browser uses it: a session cookie and the page's CSRF token."""

    def __init__(self, base: str, name: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=True)
        self.http.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": self.token("/login")})

    def token(self, page: str) -> str:
        return re.search(r'name="csrf-token" content="([^"]+)"', self.http.get(page).text).group(1)

    def post(self, url: str, data: dict) -> httpx.Response:
        return self.http.post(url, data={**data, "csrf_token": self.token("/models/")})


def train_to_answer(stack: Stack, services, recipe: str) -> dict:
    services.catalogue.save_intent(INTENT, EXAMPLES, None, None, "bench")  # no route: faq answers from the QnA
    services.catalogue.save_qna(None, ["Do you repair things?", "Can you fix my shoes?"], ANSWER, None, "bench")
    services.qna.publish(services.catalogue.all("qna"))
    admin = Admin(f"http://127.0.0.1:{stack.ports.admin}", "bench-admin")
    live, nlu = Live(stack), httpx.Client(base_url=f"http://127.0.0.1:{stack.ports.nlu}", timeout=10,
                                          headers=stack.nlu_headers())
    jobs = services.training.jobs
    known = {j["id"] for j in jobs.list()}
    pressed = time.monotonic()
    answer = admin.post("/models/train", {"backend": "local", "recipe": recipe, "auto_promote": "yes"})
    assert answer.status_code == 200 and "queued" in answer.text, answer.text[-500:]
    job = next(j for j in jobs.list() if j["id"] not in known)
    while (job := jobs.get(job["id"]))["status"] in ("queued", "running"):
        time.sleep(0.2)
    finished = time.monotonic()
    if job["status"] != "promoted":  # the gate said no: an admin promotes it anyway (counted as promotion)
        print(f"job ended {job['status']}: {job.get('error') or job.get('gate', {}).get('reasons')}", flush=True)
        services.training.registry.promote(job["version"])
    while nlu.get("/v1/models/nlu").json().get("version") != job["version"]:
        time.sleep(0.1)
    loaded = time.monotonic()
    chat = live.webchat()
    chat.send(MESSAGE, message_id="m1")
    while True:
        texts = [m["text"] for m in chat.poll().json()["messages"]]
        if texts:
            break
        time.sleep(0.05)
    answered = time.monotonic()
    queued = (_when(job["started_at"]) - _when(job["requested_at"]))
    phases = {"queue": round(queued, 1), **{k: round(v, 1) for k, v in job["seconds"].items()},
              "load in the NLU service": round(loaded - finished, 1), "answer": round(answered - loaded, 1)}
    return {"recipe": recipe, "status": job["status"], "version": job["version"], "gate": job["gate"]["reasons"],
            "answer_is_the_new_one": texts[0] == ANSWER, "train_to_answer_s": round(answered - pressed, 1),
            "phases_s": phases, "examples": job["data"]["examples"], "intents": job["data"]["intents"]}


def _when(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


def promotion_under_load(stack: Stack, seconds: float = 40.0, rate: float = 20.0) -> dict:
    registry = open_registry(REGISTRY, storage_connection(stack.ports))
    first = registry.production()[0]["version"]
    second = registry.register(VAR / "retrain-demo")  # a retrain of the demo data: the next patch
    nlu = httpx.Client(base_url=f"http://127.0.0.1:{stack.ports.nlu}", timeout=10, headers=stack.nlu_headers())
    stop, failed, parsed, seen = threading.Event(), [], [0], []

    def probe() -> None:
        while not stop.is_set():
            try:
                r = nlu.post("/v1/models/nlu:parse", json={"text": "where is my order A-1234"})
                ok = r.status_code == 200
            except httpx.HTTPError as e:
                ok, r = False, e
            if ok:
                parsed[0] += 1
                version = r.json()["model_version"]
                if not seen or seen[-1] != version:
                    seen.append(version)
            else:
                failed.append(str(getattr(r, "status_code", r)))
            time.sleep(0.01)

    switches = {10.0: second, 20.0: first, 30.0: second}
    done: list[tuple[float, str]] = []

    def during(elapsed: float) -> None:
        for at, version in switches.items():
            if elapsed >= at and at not in {d[0] for d in done}:
                registry.promote(version)
                done.append((at, version))

    prober = threading.Thread(target=probe)
    prober.start()
    load = Load(Live(stack), f"promo{int(time.time())}")
    load.run(rate, seconds, during)
    outcome = load.outcome()
    stop.set()
    prober.join()
    return {"rate": rate, "seconds": seconds, "promotions": [f"{v} at {a:.0f} s" for a, v in done],
            "versions_seen_by_the_prober": seen, "parse_requests": parsed[0], "failed_parse_requests": len(failed),
            "lost": outcome["lost"], "duplicates_seen": outcome["duplicates_seen"],
            "e2e_p50_ms": outcome["e2e_p50_ms"], "e2e_p99_ms": outcome["e2e_p99_ms"]}


def horovod_scaling(recipe: str, epochs: int, rounds: int = 2) -> dict:
    """The same training with 1 and with 2 Horovod processes, interleaved: the tier's samples per
    second (its own fit time, from the artifact's metadata) and the test figures."""
    horovodrun = shutil.which("horovodrun", path=str(Path(sys.executable).parent))
    data = str(DATASETS / "snips")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for r in range(rounds):
        for n in (1, 2):
            out = VAR / f"retrain-scaling-{recipe}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            train = [sys.executable, "-m", "training_jobs", "train", "--data", data, "--out", str(out),
                     "--epochs", str(epochs), "--seed", str(13 + r), "--recipe", recipe]
            launcher = [horovodrun, "-np", str(n), "-H", f"localhost:{n}", "--gloo"] if n > 1 else []
            subprocess.run(launcher + train, cwd=ROOT, env=env, check=True, capture_output=True)
            meta = json.loads((out / "metadata.json").read_text())
            metrics = json.loads((out / "metrics.json").read_text())
            t = meta["training"]
            seconds = t[recipe]["seconds"]
            runs[n].append({"seconds": seconds, "samples_per_s": round(t["train_examples"] * epochs / seconds, 1),
                            "test_intent_accuracy": metrics["test"]["intent_accuracy"],
                            "test_entity_f1": metrics["test"]["entity_f1"]})
            print(f"  {recipe}, {n} process(es), round {r + 1}: {runs[n][-1]}", flush=True)
    summary = {f"{n}_processes": {"runs": rs, "samples_per_s_best": max(x["samples_per_s"] for x in rs),
                                  "test_intent_accuracy": [x["test_intent_accuracy"] for x in rs]}
               for n, rs in runs.items()}
    summary["speed_up"] = round(summary["2_processes"]["samples_per_s_best"] /
                                summary["1_processes"]["samples_per_s_best"], 2)
    return {"data": "SNIPS", "recipe": recipe, "epochs": epochs, **summary}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="phase 1 only (as --phases answer)")
    parser.add_argument("--phases", default="answer,promotion,horovod,horovod_transformer",
                        help="which of answer, promotion, horovod (the fast recipe), horovod_transformer to run "
                             "(the others keep their recorded figures)")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help="what the Train form asks for (default: its default)")
    args = parser.parse_args()
    phases = {"answer"} if args.quick else set(args.phases.split(","))
    result = recorded("retrain")
    result.update(command=" ".join([".venv/bin/python bench/retrain.py", *sys.argv[1:]]),
                  machine=f"{os.cpu_count()} cores")
    if phases & {"answer", "promotion"}:
        model = ensure_model(str(DEMO_DATA), "retrain-demo", "--recipe", "fast")  # production before the Train
        var = VAR / "retrain-stack"
        shutil.rmtree(var, ignore_errors=True)
        stack = Stack(var, Ports.free(), model=model)
        stack.start_all()
        try:
            services = build(Settings.from_env(stack.admin_settings()))
            services.accounts.create("bench-admin", "admin", PASSWORD, by="bench")
            if "answer" in phases:
                print("1. Train -> answer ...", flush=True)
                processes = stack.trainer_settings()["TRAINING_PROCESSES"]
                key = "train_to_answer" + ("" if args.recipe == "fast" else f"_{args.recipe}_{processes}_processes")
                result[key] = train_to_answer(stack, services, args.recipe)
                print(json.dumps(result[key], indent=1), flush=True)
            if "promotion" in phases:
                print("2. promotion under 20 turns/s ...", flush=True)
                result["promotion_under_load"] = promotion_under_load(stack)
                print(json.dumps(result["promotion_under_load"], indent=1), flush=True)
        finally:
            stack.stop_all()
    for phase, key, recipe, epochs in (("horovod", "horovod_scaling", "fast", 8),
                                       ("horovod_transformer", "horovod_scaling_transformer", "transformer", 1)):
        if phase in phases:
            print(f"3. Horovod 1 vs 2 processes, the {recipe} recipe ...", flush=True)
            result[key] = horovod_scaling(recipe, epochs)
            print(json.dumps({k: v for k, v in result[key].items() if k != "runs"}, indent=1), flush=True)
    save("retrain", result)


if __name__ == "__main__":
    main()
