"""Retraining from the admin site in a real browser: an admin adds a new intent with annotated
examples and its answer, presses Train, watches the job (run by the stack's training worker: 2 Horovod
processes) finish on the Models page, promotes the new version, and the web chat answers a message of
the new intent with that answer."""
from __future__ import annotations

import time

import httpx

from browsing import screenshot
from nlu.artifact import DEFAULT_RECIPE, RECIPES

INTENT = "repairs"
EXAMPLES = """do you repair shoes
can you fix my broken zip
my [nike](brand) trainers need repairing
can you mend a torn jacket
do you do repairs
where can i get my boots resoled
can you repair my [adidas](brand) bag
is there a repair service
can you fix a broken strap
i need something mended"""
ANSWER = "Yes: bring it to any of our stores; most repairs take five working days and cost from 8 euros."


def test_an_admin_trains_a_new_intent_promotes_it_and_the_chat_answers_it(site):
    page = site.login("admin")
    page.goto(site.admin + "/intents/")
    page.fill("#new input[name=name]", INTENT)
    page.select_option("#new select[name=route]", "")  # no route: the faq branch answers from the QnA
    page.fill("#new-examples", EXAMPLES)
    page.click("#new button[type=submit]")
    page.wait_for_url(f"**/intents/{INTENT}**")

    page.goto(site.admin + "/qna/")
    page.fill("textarea[name=questions]", "Do you repair things?\nCan you fix my shoes?")
    page.fill("textarea[name=answer]", ANSWER)
    page.click("button:text('Add pair')")
    page.wait_for_load_state()
    page.once("dialog", lambda dialog: dialog.accept())  # "Publish every pair ...?"
    page.click("button:text('Publish')")
    page.wait_for_load_state()
    assert "Published" in page.locator(".flash").inner_text()

    page.goto(site.admin + "/models/")
    production_before = page.locator("#versions tr:has(.tag.status-delivered)").get_attribute("data-version")
    assert page.locator("select[name=recipe]").input_value() == DEFAULT_RECIPE  # trained as the form says
    page.select_option("select[name=auto_promote]", "no")  # an admin promotes it, below
    page.fill("input[name=epochs]", "12")  # with 2 of the 6 layers (conftest.py): a CI-sized cascade
    page.click("#train-form button[type=submit]")
    page.wait_for_load_state()
    assert "queued" in page.locator(".flash").inner_text()
    row = page.locator("#jobs tbody tr").first
    job_id = row.get_attribute("data-job")
    # the page follows the job without a reload until it ends (then it reloads once)
    row.locator('[data-field="phase"]', has_text="training on local").wait_for(timeout=60_000)
    page.locator('[data-field="progress"]', has_text="epoch").first.wait_for(timeout=60_000)
    screenshot(page, "models-training")
    page.locator(f'tr[data-job="{job_id}"][data-active="no"]').wait_for(timeout=480_000)
    status = page.locator(f'tr[data-job="{job_id}"] [data-field="status"]').inner_text()
    assert status in ("awaiting promotion", "gate failed"), page.locator(f'tr[data-job="{job_id}"]').inner_text()
    version = page.locator(f'tr[data-job="{job_id}"] td').last.inner_text().strip()
    screenshot(page, "models-finished")

    page.goto(f"{site.admin}/models/jobs/{job_id}")
    assert page.locator("#gate h2").inner_text().startswith("Gate:")
    screenshot(page, "models-job")
    page.goto(f"{site.admin}/models/versions/{version}")
    assert DEFAULT_RECIPE in page.locator("#recipe").inner_text()
    tiers = page.locator("#tiers tbody tr")
    assert tiers.count() == len(RECIPES[DEFAULT_RECIPE]) and " ms" in tiers.first.inner_text()
    screenshot(page, "models-version")
    if page.locator("input[name=confirm]").count():  # it failed its gate (shown): promote it anyway
        page.check("input[name=confirm]")
    page.click(f"button:text('Promote {version}')")
    page.wait_for_load_state()
    assert f"Version {version} is production" in page.locator(".flash").inner_text()
    assert production_before != version
    assert page.locator(f'#versions tr[data-version="{version}"] .tag.status-delivered').count() == 1

    nlu = f"http://127.0.0.1:{site.stack.ports.nlu}"
    deadline = time.monotonic() + 30
    key = site.stack.nlu_headers()  # the NLU service takes no anonymous call
    while httpx.get(f"{nlu}/v1/models/nlu", headers=key).json().get("version") != version:
        assert time.monotonic() < deadline, "the NLU service did not load the promoted version"
        time.sleep(0.5)
    message = "can you repair my old shoes"
    parsed = httpx.post(f"{nlu}/v1/models/nlu:parse", json={"text": message}, headers=key).json()
    assert parsed["intent"]["name"] == INTENT, parsed["intent"]
    assert parsed["tier"] in RECIPES[DEFAULT_RECIPE]
    customer = site.page()
    customer.goto(site.webchat + "/")
    before = customer.locator("#log li.bot").count()
    customer.fill("#text", message)
    customer.press("#text", "Enter")
    reply = customer.locator("#log li.bot").nth(before)
    reply.wait_for(timeout=15_000)
    assert reply.inner_text() == ANSWER
    screenshot(customer, "webchat-new-intent")
