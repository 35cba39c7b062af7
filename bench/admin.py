"""Admin-site benchmark on the real local stack (the launcher `make run` uses, on free ports), with a
catalogue of 10,000 example utterances and a turn log of 100,000 turns:

1. import of a 10,000-line `text,intent` CSV through the Import page (target <= 10 s);
2. 100,000 turns loaded into the turn log over the last 7 days (5,000 conversations, some handed off
   to an agent, some turns failed or parked, the review queue's out-of-scope, low-confidence and
   fallback turns among them), and parked messages in a poison queue;
3. each page's server time, p50 / p95 over `--rounds` requests per page, the pages interleaved in a
   shuffled order each round (targets: every page p95 <= 200 ms; the dashboard's 7-day data <= 500 ms);
4. edit -> live: a greeting reply saved through the intent page's replies form, then web chat turns
   ("hi") until the bot answers with the new text (target <= 10 s), three times, then the code's
   default restored.

The pages are driven over HTTP as a browser would (a cookie jar, the CSRF token from the page's meta
tag) on one kept-alive connection, one request at a time. "Server time" is that round trip on
localhost; gunicorn's own time per request (its access log's %(D)s, from the request read to the
response written: no code of the site's own) is recorded beside it. The client's share is the
difference, about a millisecond.

    .venv/bin/python bench/admin.py [--rounds 40] [--turns 100000] [--examples 10000]
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import os
import platform
import random
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "function_app")]

from azure.core.exceptions import ResourceExistsError  # noqa: E402
from azure.cosmos import CosmosClient  # noqa: E402
from azure.storage.queue import QueueClient, TextBase64EncodePolicy  # noqa: E402

from admin_site import catalogue as cat  # noqa: E402
from admin_site.services import build  # noqa: E402
from admin_site.settings import Settings  # noqa: E402
from bench.common import VAR, save  # noqa: E402
from branches import greeting  # noqa: E402
from core.catalogue import REFRESH_SECONDS  # noqa: E402
from core.conversation import Conversation  # noqa: E402
from core.routing import ROUTES  # noqa: E402
from core.transport import azure_transport  # noqa: E402
from devstack.stack import DEMO_DATA, Ports, Stack, storage_connection  # noqa: E402
from nlu import dataset  # noqa: E402
from switchboard import branches  # noqa: E402
from switchboard.envelope import Envelope  # noqa: E402
from switchboard.turns import TurnRecord  # noqa: E402

USER, PASSWORD = "bench-admin", "a long benchmark password"
DAY_MS = 86_400_000
BRANCHES = branches.load()  # the replies a turn of each branch gets
CONVERSATIONS = 5_000  # the turns are spread over these, ~20 turns each
HANDED_OFF = 60  # conversations an agent has (the inbox's rows)
PARKED = 12  # turns whose messages wait in turns-incoming-poison (the poison page's rows)
POISON_QUEUE = "turns-incoming-poison"
MIN_CONFIDENCE = 0.5  # the stack's NLU_MIN_CONFIDENCE: below it, a turn is in the review queue
PAGE_P95_MS, DASHBOARD_7D_MS, IMPORT_S, LIVE_S = 200, 500, 10, 10
LIVE_TEXTS = ["Welcome to the benchmark shop! Ask me about an order or a product.",
              "Hello from the benchmark: what can I do for you today?",
              "Hi there! Orders, products, shipping, returns: ask away."]
ACCESS_FORMAT = '%(s)s %(D)s "%(r)s"'  # status, microseconds, request line
_ACCESS_LINE = re.compile(r'^(\d{3}) (\d+) "(\w+) (\S+) HTTP/[\d.]+"$')


# ---- example utterances ---------------------------------------------------------------------------
# Each intent's utterances are its templates filled from word lists (entity values annotated as the
# catalogue keeps them), so a generated set is realistic, large and free of repeats.
COLOURS = ["blue", "red", "black", "white", "green", "grey", "navy", "pink", "yellow", "beige"]
BRANDS = ["Nike", "Adidas", "Puma", "Levi's", "North Face", "Patagonia", "Reebok", "Asics", "Vans", "Converse"]
PRODUCTS = ["running shoes", "jacket", "jeans", "t-shirt", "hoodie", "backpack", "sneakers", "socks", "cap",
            "rain coat", "shorts", "sweater"]
PLACES = ["Germany", "France", "Spain", "Italy", "Ireland", "Canada", "Norway", "Sweden", "Denmark", "Poland",
          "Austria", "Belgium", "Portugal", "Greece", "Finland", "Japan", "Australia", "Scotland", "Wales",
          "the Netherlands", "Switzerland", "Iceland", "Hungary", "Romania", "Croatia", "Czechia", "Estonia",
          "Latvia", "Lithuania", "Slovenia", "Slovakia", "Luxembourg", "Malta", "Cyprus", "Bulgaria", "Mexico",
          "Brazil", "Chile", "Singapore", "New Zealand", "South Korea", "the US", "the UK", "Turkey", "Israel"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "public holidays",
        "Christmas Eve", "New Year's Day", "Easter Monday", "bank holidays", "the weekend", "today", "tomorrow"]
CITIES = ["London", "Leeds", "Bristol", "Glasgow", "Dublin", "Cardiff", "York", "Bath", "Oxford", "Brighton",
          "Cambridge", "Norwich", "Exeter", "Belfast", "Chester", "Durham"]
METHODS = ["paypal", "apple pay", "google pay", "a visa card", "mastercard", "amex", "a gift card", "klarna",
           "bank transfer", "cash on delivery", "a debit card", "store credit", "bitcoin", "a voucher",
           "two cards", "maestro", "cheque", "an invoice", "clearpay", "a prepaid card"]
PEOPLE = ["a person", "a human", "an agent", "someone real", "a manager", "customer service", "a real person",
          "your support team", "a supervisor", "somebody", "an actual human", "a colleague of yours",
          "a member of staff", "the help desk", "an operator", "a live agent"]
OPENERS = ["", "hi, ", "hello, ", "hey, ", "excuse me, ", "quick question: ", "sorry, ", "um ", "ok so ",
           "good morning, ", "hi there, ", "please, "]
CLOSERS = ["", "?", " please", " thanks", " asap", " today", " if you can", " thank you"]


def _order_id(rng: random.Random) -> str:
    return f"{rng.choice('ABCDEFGHJKMNPRSTUVWXYZ')}-{rng.randint(1000, 9999)}"


def _fill(template: str, rng: random.Random) -> str:
    """A template with each {slot} replaced: entity values annotated, other words plain."""
    values = {
        "order": lambda: f"[{_order_id(rng)}](order_id)", "colour": lambda: f"[{rng.choice(COLOURS)}](colour)",
        "brand": lambda: f"[{rng.choice(BRANDS)}](brand)", "product": lambda: f"[{rng.choice(PRODUCTS)}](product)",
        "item": lambda: rng.choice(PRODUCTS), "place": lambda: rng.choice(PLACES), "day": lambda: rng.choice(DAYS),
        "city": lambda: rng.choice(CITIES), "method": lambda: rng.choice(METHODS),
        "person": lambda: rng.choice(PEOPLE), "n": lambda: str(rng.randint(2, 60)),
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)](), template)


TEMPLATES: dict[str, list[str]] = {
    "order_status": ["where is my order {order}", "has {order} shipped yet", "what's the status of {order}",
                     "track order {order}", "when will {order} arrive", "any news on order {order}",
                     "is {order} on its way", "my order {order} hasn't arrived", "order {order} status",
                     "can you check order {order} for me", "where's my parcel, order number {order}",
                     "I ordered {n} days ago, it's {order}", "did {order} leave the warehouse"],
    "cancel_order": ["cancel my order {order}", "I want to cancel order {order}", "please cancel {order}",
                     "can I still cancel {order}", "stop order {order}, I don't need it", "cancel {order} now",
                     "I changed my mind about {order}, cancel it", "how do I cancel {order}",
                     "is it too late to cancel {order}", "cancel the {item} in order {order}"],
    "product_search": ["show me {colour} {brand} {product}", "do you have {colour} {product}",
                       "I'm looking for {brand} {product}", "any {colour} {product} from {brand}",
                       "find me a {colour} {product}", "have you got {brand} {product} in {colour}",
                       "I need new {product}", "looking for {colour} {product} in size {n}",
                       "search {brand} {colour} {product}"],
    "store_hours": ["what time do you open on {day}", "are you open on {day}", "{city} store hours on {day}",
                    "when does the {city} shop close on {day}", "opening times for {day}",
                    "is the {city} store open {day}", "how late are you open on {day}",
                    "what are your hours in {city}", "do you open early on {day}"],
    "shipping_info": ["how long does shipping to {place} take", "do you ship to {place}",
                      "what does delivery to {place} cost", "shipping times for {place}",
                      "can I get express delivery to {place}", "is shipping to {place} free over {n} pounds",
                      "which courier delivers to {place}", "how many days to {place}",
                      "do you deliver a {item} to {place}", "is there tracking for parcels to {place}"],
    "payment_methods": ["can I pay with {method}", "do you accept {method}", "is {method} ok",
                        "pay by {method}, is that possible", "what about paying with {method}",
                        "will {method} work at checkout", "can I split the payment with {method}",
                        "does the {city} shop take {method}", "is {method} accepted online",
                        "I'd like to use {method} for the {item}"],
    "returns_policy": ["can I return a {item}", "how do I return my {item}", "what's your return policy on {item}",
                       "the {item} doesn't fit, can I send it back", "how long do I have to return a {item}",
                       "can I exchange a {item} for a bigger size", "refund for a {item} bought {n} days ago",
                       "do I pay for returning a {item}", "can I return a {item} to the {city} store"],
    "human_handoff": ["I want to talk to {person}", "let me speak to {person}", "can I chat with {person}",
                      "put me through to {person}", "connect me with {person}", "get me {person}",
                      "I'd rather talk to {person}", "is there {person} I can talk to",
                      "transfer me to {person} please", "I need {person}, not a bot"],
}
SHORT = {  # intents of short replies: a core, then words that keep its meaning
    "greeting": (["hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "howdy",
                  "hello there", "hi there", "hey there", "greetings", "morning", "yo", "hey hey", "hallo",
                  "hi hi", "evening", "afternoon", "heya", "hello hello", "good day", "hey you", "sup", "hullo"],
                 ["", " team", " bot", " everyone", " folks", " friend", " all", " shop", " support", " guys"],
                 ["", "!", " :)", " how are you", " anyone there", " is this the shop"]),
    "goodbye": (["bye", "goodbye", "see you", "bye bye", "see ya", "later", "farewell", "cheerio", "take care",
                 "catch you later", "have a nice day", "talk soon", "good night", "so long", "ciao", "ttyl",
                 "that's all", "I'm done", "gotta go", "signing off", "until next time", "adios", "peace out",
                 "have a good one", "all done"],
                ["", " now", " for now", " then", " team", " everyone", " folks", " bot"],
                ["", "!", " :)", " and have a good day", " cheers"]),
    "thanks": (["thanks", "thank you", "thanks a lot", "many thanks", "cheers", "thx", "ty", "much appreciated",
                "thanks so much", "thank you kindly", "great, thanks", "perfect, thank you", "brilliant, thanks",
                "awesome thanks", "super, thanks", "lovely, thank you", "nice one, cheers", "ok thanks",
                "thanks mate", "thank you very much", "appreciate it", "that helps, thanks", "ta",
                "thanks a million", "grateful, thanks"],
               ["", " for the help", " for your help", " for that", " for the info", " for sorting it",
                " for checking", " again"],
               ["", "!", " :)", " really"]),
    "affirm": (["yes", "yeah", "yep", "sure", "correct", "that's right", "absolutely", "of course", "ok",
                "okay", "sounds good", "indeed", "right", "exactly", "definitely", "go ahead", "please do",
                "yup", "affirmative", "that is correct", "sure thing", "alright", "yes it is", "certainly",
                "yes indeed"],
               ["", " please", " do it", " that one", " go on", " that works", " let's do that", " why not"],
               ["", "!", " :)", " thanks"]),
    "deny": (["no", "nope", "nah", "no thanks", "not really", "no way", "never", "not at all", "negative",
              "I don't think so", "no thank you", "not now", "definitely not", "absolutely not", "no need",
              "not that one", "wrong", "that's wrong", "incorrect", "no, that's not it", "don't", "please don't",
              "not interested", "rather not", "nope, not that"],
             ["", " sorry", " thanks", " at all", " for now", " mate", " really", " again"],
             ["", "!", " :(", " please"]),
}
OUT_OF_SCOPE = ["what's the weather in {city}", "tell me a joke", "who won the match on {day}",
                "my parcel went walkabout", "can you book me a taxi in {city}", "what is the meaning of life",
                "play some music", "how old are you", "recommend a restaurant in {city}", "what's {n} times {n}",
                "I like turtles", "do you sell cars", "is it going to rain on {day}", "sing me a song"]


def candidates(intent: str, rng: random.Random) -> Iterator[str]:
    """An endless stream of annotated utterances of `intent` (repeats included: the caller dedupes)."""
    if intent in SHORT:
        cores, middles, ends = SHORT[intent]
        combos = list(itertools.product(cores, middles, ends))
        rng.shuffle(combos)
        for core, middle, end in combos:
            yield f"{core}{middle}{end}"
        return
    templates = TEMPLATES[intent]
    while True:
        yield f"{rng.choice(OPENERS)}{_fill(rng.choice(templates), rng)}{rng.choice(CLOSERS)}"


def utterances(count: int, taken: set[str], rng: random.Random) -> list[tuple[str, str]]:
    """`count` (annotated text, intent) pairs spread evenly over the demo's intents, no two alike and none
    alike anything in `taken` (normalised as the catalogue compares them), which grows with them."""
    intents = sorted(ROUTES)
    rows = []
    for i, intent in enumerate(intents):
        want = count // len(intents) + (i < count % len(intents))
        stream = candidates(intent, rng)
        for _ in range(want):
            for raw in stream:
                if (key := cat.normalise(raw)) not in taken:
                    taken.add(key)
                    rows.append((raw, intent))
                    break
            else:
                raise ValueError(f"the word lists of {intent} give fewer than {want} utterances")
    return rows


def csv_text(rows: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "intent"])
    writer.writerows(rows)
    return out.getvalue()


# ---- the turn log ---------------------------------------------------------------------------------
def _entities(text: str, spans: tuple, rng: random.Random) -> list[dict]:
    return [{"entity": s.entity, "value": text[s.start:s.end], "start": s.start, "end": s.end,
             "confidence": round(rng.uniform(0.7, 1.0), 3)} for s in spans]


def _nlu(intent: str | None, confidence: float, text: str, spans: tuple, rng: random.Random) -> dict:
    others = rng.sample(sorted(ROUTES), 3)
    ranking = [{"name": intent, "confidence": confidence}] if intent else []
    ranking += [{"name": n, "confidence": round((1 - confidence) / (k + 2), 4)} for k, n in enumerate(others)
                if n != intent]
    return {"intent": {"name": intent, "confidence": confidence} if intent else None, "intent_ranking": ranking,
            "out_of_scope": intent is None, "entities": _entities(text, spans, rng)}


def _timings(channel: str, branch: str, rng: random.Random) -> dict[str, float]:
    entry = "sendbird_webhook" if channel == "sendbird" else "webchat_messages"
    steps = {entry: rng.lognormvariate(0, 0.5), "understand": rng.lognormvariate(2.5, 0.4),
             f"intent_{branch}": rng.lognormvariate(1.5, 0.8), "deliver": rng.lognormvariate(1.0, 0.5)}
    steps["end_to_end"] = sum(steps.values()) + rng.lognormvariate(2.5, 0.5)
    return {k: round(v, 3) for k, v in steps.items()}


class TurnLog:
    """A synthetic but realistic turn log: conversations of ~20 turns each, a few minutes long, begun
    at random over the last `days`; each turn a real `Envelope` made into the function app's own turn
    document. Most turns are understood with high confidence; some are out of scope, unsure or answered
    by the fallback (the review queue), some failed, a few parked; `HANDED_OFF` conversations end with
    the customer handed to an agent and an agent's reply."""

    def __init__(self, turns: int, days: float, now_ms: float, rng: random.Random,
                 texts: dict[str, list[str]]) -> None:
        self.rng, self.now, self.texts = rng, now_ms, texts
        self.turns: list[dict] = []
        self.conversations: list[dict] = []
        self.parked: list[Envelope] = []
        per = [turns // CONVERSATIONS + (i < turns % CONVERSATIONS) for i in range(CONVERSATIONS)]
        handed = set(rng.sample(range(CONVERSATIONS), HANDED_OFF))
        for i, count in enumerate(per):
            self._conversation(i, count, i in handed, now_ms - rng.random() * days * DAY_MS)

    def _conversation(self, index: int, count: int, handed_off: bool, start: float) -> None:
        rng = self.rng
        channel = "sendbird" if index % 2 else "webchat"
        cid = f"sendbird_group_channel_{index:05d}{rng.getrandbits(32):08x}" if channel == "sendbird" \
            else f"web-{index:05d}-{rng.getrandbits(48):012x}"
        user = f"customer-{rng.getrandbits(40):010x}" if channel == "sendbird" else f"web:{cid}"
        at, docs = min(start, self.now - count * 40_000), []
        for k in range(count):
            at += rng.uniform(4_000, 40_000)
            agent_has_it = handed_off and k >= count - 3
            docs.append(self._turn(channel, cid, user, at, last_human=handed_off and k == count - 4,
                                   silent=agent_has_it and k < count - 1, agent=agent_has_it and k == count - 1))
        self.turns += docs
        remembered = {d["id"]: {"branch": d["branch"], "outcomes": {}} for d in docs[-20:]}
        doc = Conversation(cid, channel, user, handoff=handed_off, message_count=count, turns=remembered,
                           updated_at=docs[-1]["updated_at"], fallback_count=0).to_doc()
        self.conversations.append(doc)

    def _turn(self, channel: str, cid: str, user: str, at: float, last_human: bool, silent: bool,
              agent: bool) -> dict:
        rng = self.rng
        turn_id = (f"sendbird:{rng.getrandbits(48)}" if channel == "sendbird"
                   else f"webchat:{cid}:{rng.getrandbits(64):016x}")
        if agent:
            env = Envelope(turn_id=f"agent:{cid}:{rng.getrandbits(64):016x}", channel=channel, conversation_id=cid,
                           user_id=user, text="", received_at=at, branch="agent",
                           reply="Hello, this is Sam from the shop. Let me look into that for you.",
                           timings={"agent_messages": 2.1, "deliver": 3.4, "end_to_end": 9.8})
            return self._document(env, "delivered")
        intent, status, roll = None, "delivered", rng.random()
        if last_human:
            intent, roll = "human_handoff", 0.5
        elif roll >= 0.06:
            intent = rng.choice(sorted(ROUTES))
        raw = rng.choice(self.texts[intent]) if intent else _fill(rng.choice(OUT_OF_SCOPE), rng)
        text, spans = dataset.parse_annotated(raw)
        confidence = round(rng.uniform(0.15, 0.5) if 0.06 <= roll < 0.12 else 1 - rng.random() ** 3 * 0.45, 4)
        branch = ROUTES.get(intent, "fallback") if intent and confidence >= MIN_CONFIDENCE else "fallback"
        reply = BRANCHES.templates.get(branch, {})
        reply_text = next(iter(reply.values())).text if reply else "You can return most items within 30 days."
        env = Envelope(turn_id=turn_id, channel=channel, conversation_id=cid, user_id=user, text=text,
                       received_at=at, nlu=_nlu(intent, confidence, text, spans, rng), branch=branch,
                       reply=reply_text, timings=_timings(channel, branch, rng))
        if silent:
            env.reply, env.branch, status = None, None, "silent: handed off to an agent"
        elif roll > 0.995 and len(self.parked) < PARKED:
            env.reply, env.error, status = None, "the shop API kept answering 503", "parked"
            self.parked.append(env)
        elif roll > 0.985:
            env.error, status = "the shop API answered 500", "failed"
            env.reply = "Sorry, something went wrong on our side. Please try again in a minute."
        return self._document(env, status)

    @staticmethod
    def _document(env: Envelope, status: str) -> dict:
        doc = TurnRecord.from_envelope(env, status).to_doc()
        doc["updated_at"] = env.received_at + env.timings.get("end_to_end", 10.0)
        return doc


def upsert_all(container, docs: list[dict], threads: int = 16) -> float:
    """Write `docs` with `threads` writers (a client each); seconds taken."""
    local = threading.local()

    def client():
        if not hasattr(local, "c"):
            local.c = container()
        return local.c

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda d: client().upsert_item(d), docs, chunksize=200))
    return time.perf_counter() - started


# ---- the admin site as a browser sees it ----------------------------------------------------------
class Browser:
    """One user's browser: a cookie jar, one kept-alive connection, the page's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False)
        self.csrf = ""

    def login(self, name: str, password: str) -> None:
        self.csrf = _csrf(self.get("/login").text)
        answer = self.http.post("/login", data={"name": name, "password": password, "csrf_token": self.csrf})
        if answer.status_code != 302:
            raise RuntimeError(f"login refused: {answer.status_code}")
        self.csrf = _csrf(self.get("/").text)

    def get(self, url: str) -> httpx.Response:
        answer = self.http.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:300]}")
        return answer

    def post(self, url: str, data: dict, **kw) -> httpx.Response:
        return self.http.post(url, data={"csrf_token": self.csrf, **data}, **kw)


def _csrf(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q % of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)], 1)


class AccessLog:
    """gunicorn's access log of the admin site: each request's own time, in request order."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> list[tuple[str, int, float]]:
        """(path and query, status, ms) of each request logged since `mark`."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            lines = f.read().decode().splitlines()
        found = []
        for line in lines:
            if m := _ACCESS_LINE.match(line.strip()):
                found.append((m.group(4), int(m.group(1)), int(m.group(2)) / 1000))
        return found


# ---- the phases ---------------------------------------------------------------------------------
def start_stack(var: Path, access_log: Path) -> Stack:
    """The stack on free ports; the admin site's gunicorn logs each request's time (its access log).
    The edit -> live runs say "hi" every few hundred ms from one address, faster than a customer may:
    the web chat's message limits are off here."""
    stack = Stack(var, Ports.free(), functions_env={"WEBCHAT_MESSAGES_PER_CONVERSATION": "0",
                                                    "WEBCHAT_MESSAGES_PER_ADDRESS": "0"})
    try:
        for name in Stack.ORDER:
            if name == "admin":
                os.environ["GUNICORN_ACCESS_LOG"] = str(access_log)
                os.environ["GUNICORN_CMD_ARGS"] = f"--access-logformat '{ACCESS_FORMAT}'"
            try:
                stack.start(name)
            finally:
                os.environ.pop("GUNICORN_ACCESS_LOG", None)
                os.environ.pop("GUNICORN_CMD_ARGS", None)
    except BaseException:
        stack.stop_all()
        raise
    return stack


def import_csv(browser: Browser, rows: list[tuple[str, str]]) -> dict:
    body = csv_text(rows).encode()
    started = time.perf_counter()
    answer = browser.post("/data/import", {}, files={"file": ("bench-examples.csv", body, "text/csv")})
    seconds = time.perf_counter() - started
    if answer.status_code != 200 or "import-summary" not in answer.text:
        raise RuntimeError(f"import refused: {answer.status_code} {answer.text[:2000]}")
    return {"lines": len(rows), "bytes": len(body), "seconds": round(seconds, 2), "target_s": IMPORT_S,
            "met": seconds <= IMPORT_S}


def park(stack: Stack, envelopes: list[Envelope]) -> None:
    """The messages the pipeline gave up on, as the Functions host parks them (base64 text)."""
    queue = QueueClient.from_connection_string(storage_connection(stack.ports), POISON_QUEUE,
                                               message_encode_policy=TextBase64EncodePolicy())
    try:
        queue.create_queue()
    except ResourceExistsError:
        pass
    for env in envelopes:
        queue.send_message(env.to_json())
    queue.send_message("this is not an envelope")  # a message that can only be discarded


def older_link(page: str) -> str:
    found = re.search(r'rel="next" href="([^"]+)"', page)
    if not found:
        raise RuntimeError("the conversations page has no Older link")
    return found.group(1).replace("&amp;", "&")


def measure(browser: Browser, pages: dict[str, str], rounds: int, log: AccessLog, rng: random.Random) -> dict:
    """Every page `rounds` times, one request at a time, in a shuffled order each round: round trip and
    gunicorn's time of each."""
    trips: dict[str, list[float]] = {name: [] for name in pages}
    server: dict[str, list[float]] = {name: [] for name in pages}
    order, sent = list(pages), []
    log.mark()
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            started = time.perf_counter()
            browser.get(pages[name])
            trips[name].append((time.perf_counter() - started) * 1000)
            sent.append(name)
    time.sleep(1)  # gunicorn writes each access line after its response
    logged = log.since_mark()  # one client, one request at a time: the log is in the order sent
    if len(logged) == len(sent) and all(p.split("?")[0] == pages[n].split("?")[0]
                                        for n, (p, _, _) in zip(sent, logged)):
        for name, (_, _, ms) in zip(sent, logged):
            server[name].append(ms)
    else:
        print(f"  (gunicorn's access log does not match the requests: {len(logged)} lines, {len(sent)} sent)")
    out = {}
    for name, url in pages.items():
        target = DASHBOARD_7D_MS if name == "dashboard data 7d" else PAGE_P95_MS
        p95 = pct(trips[name], 95)
        out[name] = {"url": url, "n": len(trips[name]), "p50_ms": pct(trips[name], 50), "p95_ms": p95,
                     "max_ms": round(max(trips[name]), 1), "server_p50_ms": pct(server[name], 50),
                     "server_p95_ms": pct(server[name], 95), "target_p95_ms": target, "met": p95 <= target}
    return out


def replies_etag(page: str) -> str:
    form = page[page.index('id="replies"'):]
    return re.search(r'name="etag" value="([^"]*)"', form).group(1)


def save_greeting(browser: Browser, text: str) -> float:
    """Save the greeting branch's hello reply through the intent page's form; perf_counter at the 302."""
    etag = replies_etag(browser.get("/intents/greeting").text)
    answer = browser.post("/intents/greeting/replies", {"branch": "greeting", "etag": etag, "reply.hello": text})
    saved = time.perf_counter()
    if answer.status_code != 302:
        raise RuntimeError(f"saving the reply: {answer.status_code} {answer.text[:500]}")
    return saved


def chat_until(functions: httpx.Client, text: str, saved: float, timeout: float = 30.0) -> dict:
    """Say "hi" in a new web chat conversation until the bot answers `text`: seconds from `saved`."""
    opened = functions.post("/api/channels/webchat/conversations")
    if opened.status_code != 201:
        raise RuntimeError(f"web chat refused a conversation: {opened.status_code} {opened.text}")
    conversation, cursor, turns = opened.json()["conversation_id"], 0.0, 0
    auth = {"Authorization": f"Bearer {opened.json()['token']}"}
    while time.perf_counter() - saved < timeout:
        turns += 1
        sent = functions.post("/api/channels/webchat/messages", headers=auth, json={
            "conversation_id": conversation, "message_id": uuid.uuid4().hex, "text": "hi"})
        if sent.status_code != 202:
            raise RuntimeError(f"web chat refused a message: {sent.status_code} {sent.text}")
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            got = functions.get(f"/api/channels/webchat/conversations/{conversation}/messages",
                                params={"after": cursor}, headers=auth).json()
            if got["messages"]:
                cursor = got["cursor"]
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("the bot did not answer within 10 s")
        if got["messages"][-1]["text"] == text:
            return {"seconds": round(time.perf_counter() - saved, 2), "turns": turns}
        time.sleep(0.2)
    raise RuntimeError(f"the new greeting was not live within {timeout} s")


def edit_to_live(browser: Browser, stack: Stack) -> dict:
    """Each worker process of the function app reads the catalogue again on the first turn at least
    `REFRESH_SECONDS` after its last read, so the wait depends on where in that cycle the save falls.
    Each run ends just after a read (the turn that showed the new text), so the pauses before the
    saves place them at the start of the cycle (the longest wait), in its middle, and after its end."""
    functions = httpx.Client(base_url=f"http://127.0.0.1:{stack.ports.functions}", timeout=10)
    runs = []
    try:
        chat_until(functions, greeting.REPLIES["hello"].text, time.perf_counter())  # every step warm
        for text, pause in zip(LIVE_TEXTS, (0.0, REFRESH_SECONDS / 2, REFRESH_SECONDS + 0.5)):
            time.sleep(pause)
            runs.append({**chat_until(functions, text, save_greeting(browser, text)), "paused_s": round(pause, 1)})
            print(f"  edit -> live: {runs[-1]}", flush=True)
    finally:
        save_greeting(browser, "")  # empty: the code's default again
    worst = max(r["seconds"] for r in runs)
    return {"runs": runs, "max_s": worst, "target_s": LIVE_S, "met": worst <= LIVE_S,
            "catalogue_refresh_s": REFRESH_SECONDS}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def table(result: dict) -> str:
    lines = [f"{'page':<28} {'url':<44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'gunicorn p50/p95':>17}  target"]
    for name, r in result["pages"].items():
        url = r["url"] if len(r["url"]) <= 44 else r["url"][:41] + "..."
        lines.append(f"{name:<28} {url:<44} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8} "
                     f"{r['server_p50_ms']:>8}/{r['server_p95_ms']:<8}  {'met' if r['met'] else 'MISSED'} "
                     f"(<= {r['target_p95_ms']})")
    imp, live, warm = result["import"], result["edit_to_live"], result["warmup"]
    lines += [f"import of {imp['lines']:,} CSV lines: {imp['seconds']} s  "
              f"{'met' if imp['met'] else 'MISSED'} (<= {IMPORT_S} s)",
              f"dashboard 7d, first request (computes the hourly roll-ups): {warm['dashboard_7d_first_ms']} ms",
              f"edit -> live: {', '.join(str(r['seconds']) for r in live['runs'])} s  "
              f"{'met' if live['met'] else 'MISSED'} (<= {LIVE_S} s)"]
    return "\n".join(lines)


# ---- the run ------------------------------------------------------------------------------------
def fresh(var: Path) -> None:
    """Start from empty stores each run (the trained model is kept)."""
    if var.exists():
        for child in var.iterdir():
            if child.name != "models":
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40, help="requests per page")
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=7)
    args = parser.parse_args()
    var = VAR / "admin"
    fresh(var)
    rng = random.Random(11)
    result: dict[str, Any] = {"command": " ".join(["bench/admin.py", *sys.argv[1:]]), "machine": machine(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack (finally) when killed
    print("starting the stack ...", flush=True)
    log = AccessLog(var / "logs" / "admin-access.log")
    (var / "logs").mkdir(parents=True, exist_ok=True)
    stack = start_stack(var, log.path)
    try:
        run(stack, args, rng, log, result)
    finally:
        stack.stop_all()
    print(table(result))
    save("admin", result)


def run(stack: Stack, args: argparse.Namespace, rng: random.Random, log: AccessLog, result: dict) -> None:
    settings = stack.admin_settings()
    admin = build(Settings.from_env(settings))
    admin.accounts.create(USER, "admin", PASSWORD, by="bench/admin.py")
    browser = Browser(f"http://127.0.0.1:{stack.ports.admin}")
    browser.login(USER, PASSWORD)

    demo = dataset.read_project(DEMO_DATA)
    taken = {cat.normalise(dataset.format_annotated(e)) for e in demo.splits["train"]}
    rows = utterances(args.examples, taken, rng)
    print(f"importing {len(rows):,} example utterances ...", flush=True)
    result["import"] = import_csv(browser, rows)
    examples = sum(len(i.get("examples", [])) for i in admin.catalogue.all(cat.INTENT))
    result["import"]["catalogue_examples_after"] = examples
    if examples < args.examples:
        raise RuntimeError(f"the catalogue holds {examples} examples after the import")
    print(f"  {result['import']}", flush=True)

    texts: dict[str, list[str]] = {}
    for raw, intent in rows:
        texts.setdefault(intent, []).append(raw)
    log_data = TurnLog(args.turns, args.days, time.time() * 1000, rng, texts)
    endpoint, key, database = settings["COSMOS_ENDPOINT"], settings["COSMOS_KEY"], settings["COSMOS_DATABASE"]

    def container(name: str) -> Callable[[], Any]:
        return lambda: CosmosClient(endpoint, key, enable_endpoint_discovery=False, transport=azure_transport(
        )).get_database_client(database).get_container_client(name)

    print(f"loading {len(log_data.turns):,} turns and {len(log_data.conversations):,} conversations ...", flush=True)
    result["load"] = {"turns": len(log_data.turns), "conversations": len(log_data.conversations),
                      "handed_off": HANDED_OFF, "parked": len(log_data.parked) + 1, "days": args.days,
                      "turns_seconds": round(upsert_all(container("turns"), log_data.turns), 1),
                      "conversations_seconds": round(upsert_all(container("conversations"),
                                                                log_data.conversations), 1)}
    result["load"]["in_review_queue"] = sum(
        1 for d in log_data.turns if d["branch"] == "fallback" or (d["nlu"] or {}).get("out_of_scope")
        or ((d["nlu"] or {}).get("intent") or {}).get("confidence", 1) < MIN_CONFIDENCE)
    park(stack, log_data.parked)
    print(f"  {result['load']}", flush=True)

    counts: dict[str, int] = {}
    for d in log_data.turns:
        counts[d["conversation_id"]] = counts.get(d["conversation_id"], 0) + 1
    longest = max(counts, key=counts.get)
    handed = next(c["id"] for c in log_data.conversations if c["handoff"])
    pages = {"dashboard": "/", "dashboard data 7d": "/dashboard/data?range=7d",
             "dashboard data 24h": "/dashboard/data?range=24h", "conversations": "/conversations/",
             "conversations ?channel": "/conversations/?channel=webchat", "conversations older": "",
             "transcript": f"/conversations/{longest}", "review": "/review/", "inbox": "/inbox/",
             "inbox conversation": f"/inbox/{handed}", "intents": "/intents/", "intent (~800 examples)":
             "/intents/greeting", "entities": "/entities/", "qna": "/qna/", "data": "/data/", "poison": "/poison/",
             "audit": "/audit/", "users": "/users/"}
    print("warming up (the first 7-day request computes the hourly roll-ups) ...", flush=True)
    started = time.perf_counter()
    browser.get("/dashboard/data?range=7d")
    result["warmup"] = {"dashboard_7d_first_ms": round((time.perf_counter() - started) * 1000)}
    pages["conversations older"] = older_link(browser.get("/conversations/").text)
    for url in pages.values():
        browser.get(url)
    print(f"measuring {len(pages)} pages x {args.rounds} ...", flush=True)
    result["pages"] = measure(browser, pages, args.rounds, log, rng)
    print("edit -> live ...", flush=True)
    result["edit_to_live"] = edit_to_live(browser, stack)
    missed = [n for n, r in result["pages"].items() if not r["met"]]
    result["targets"] = {
        "every page p95 <= 200 ms": not [n for n in missed if n != "dashboard data 7d"],
        "dashboard 7 days <= 500 ms": result["pages"]["dashboard data 7d"]["met"],
        "import <= 10 s": result["import"]["met"], "edit -> live <= 10 s": result["edit_to_live"]["met"]}
    result["missed"] = missed


if __name__ == "__main__":
    main()
