"""The operator console in a real browser: headless Debian Chromium (via Playwright) against
`jieya api` as a process, with a real worker on the Temporal dev server."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from api.console.pages import messages
from models.enums import DocType
from simulators.docfacts import DocumentFacts
from tests.utils.factories import REQUIRED, document_png, loan_csv, new_facts, phone_for
from tests.utils.live import Live, running_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
UI_TIMEOUT_MS = 20_000
CASE_TIMEOUT_S = 120
SCREENSHOTS = Path("/tmp")
CONSOLE_DIR = Path(__file__).resolve().parents[1] / "api" / "console"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Debian chromium is not installed at {CHROMIUM}"
)


@dataclass
class Uploaded:
    case_id: str
    name: str
    documents: dict[str, bytes]  # document_id -> the bytes sent


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(dev_env, database_url, sessions, registry_sim, sms_sim, data_dir):
    async with running_api(
        dev_env, database_url, sessions, registry_sim, sms_sim, data_dir, prefix="c-"
    ) as running:
        yield running


async def poll_case(live: Live, case_id: str, predicate, timeout: float = CASE_TIMEOUT_S) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    case: dict = {}
    while asyncio.get_running_loop().time() < deadline:
        case = (await live.api.get(f"/cases/{case_id}", headers=live.auth("carol"))).json()
        if predicate(case):
            return case
        await asyncio.sleep(0.3)
    raise AssertionError(f"case {case_id} stuck at {case.get('status')}/{case.get('step')}")


def has_open_task(case: dict) -> bool:
    return case["status"] == "AWAITING_APPROVAL" and any(
        t["state"] == "open" for t in case["tasks"]
    )


async def open_case(live: Live, facts: DocumentFacts) -> str:
    """A case opened by alice on a freshly imported, settled loan; no documents yet."""
    imported = await live.api.post(
        "/loans/import",
        headers=live.auth("bob"),
        files={"file": ("loans.csv", loan_csv(facts), "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    opened = await live.api.post(
        "/cases",
        headers=live.auth("alice"),
        json={
            "loan_contract_no": facts.contract_no,
            "borrower": {
                "name": facts.name,
                "id_number": facts.id_number,
                "phone": phone_for(facts),
            },
            "vehicle": {"plate_no": facts.plate_no, "vin": facts.vin},
        },
    )
    assert opened.status_code == 201, opened.text
    return opened.json()["case_id"]


async def open_waiting_case(
    live: Live, facts: DocumentFacts, printed: dict[DocType, DocumentFacts] | None = None
) -> Uploaded:
    """A case opened by alice with every required document (printed with `printed`'s facts
    where given), once it waits for a person."""
    case_id = await open_case(live, facts)
    documents = {}
    for index, doc_type in enumerate(REQUIRED):
        data = document_png(doc_type, (printed or {}).get(doc_type, facts), index)
        uploaded = await live.api.post(
            f"/cases/{case_id}/documents",
            headers=live.auth("alice"),
            data={"doc_type": doc_type.value},
            files={"file": ("scan.png", data, "image/png")},
        )
        assert uploaded.status_code == 201, uploaded.text
        documents[uploaded.json()["document_id"]] = data
    await poll_case(live, case_id, has_open_task)
    return Uploaded(case_id, facts.name, documents)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def waiting_case(live: Live) -> Uploaded:
    return await open_waiting_case(live, new_facts())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser, live: Live):
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    problems: list[str] = []  # uncaught script errors: the page must have none
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(f"{live.base_url}/console", timeout=UI_TIMEOUT_MS)
    return context, page, problems


async def sign_in(page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")


def test_every_text_exists_in_both_languages():
    texts = messages()
    assert set(texts["zh"]) == set(texts["en"])
    used = set()
    for source in [*CONSOLE_DIR.glob("templates/*.html"), *CONSOLE_DIR.glob("static/*.js")]:
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n(?:-placeholder|-title)?="([a-z_]+\.[a-z_.]+)"', text))
        used |= set(re.findall(r'\bT\("([a-z_]+\.[a-z_.]+)"', text))
        used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_.]+)"', text))
    assert used, "no translated texts found"
    assert used <= set(texts["zh"]), f"texts without words: {sorted(used - set(texts['zh']))}"


async def viewed(live: Live, case_id: str) -> list[tuple[str, str]]:
    """(who, document_id) of every recorded read of the case's files, oldest first."""
    history = (await live.api.get(f"/cases/{case_id}/history", headers=live.auth("carol"))).json()
    return [
        (e["actor"], e["details"]["document_id"])
        for e in history["data"]
        if e["event"] == "document.viewed"
    ]


async def test_document_content_is_served_to_signed_in_callers_only(live: Live, waiting_case):
    document_id, data = next(iter(waiting_case.documents.items()))
    path = f"/cases/{waiting_case.case_id}/documents/{document_id}/content"
    read = await live.api.get(path, headers=live.auth("carol"))  # an auditor reads too
    assert read.status_code == 200, read.text
    assert read.headers["content-type"] == "image/png"
    assert read.headers["cache-control"] == "private, no-store"
    assert read.content == data
    assert ("c-carol", document_id) in await viewed(live, waiting_case.case_id)
    anonymous = await live.api.get(path)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    unknown = await live.api.get(
        f"/cases/{waiting_case.case_id}/documents/DOC-NOSUCHDOC/content", headers=live.auth("dave")
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "document_not_found"
    elsewhere = await live.api.get(
        f"/cases/RC-NOSUCHCASE/documents/{document_id}/content", headers=live.auth("dave")
    )
    assert elsewhere.status_code == 404


async def test_the_page_and_its_files_are_served_with_a_strict_policy(live: Live):
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        page = await http.get("/console")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "解押作业台" in page.text and live.tokens["dave"] not in page.text
        script = await http.get("/console/static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        outside = await http.get("/console/static/..%2Fpages.py")
        assert outside.status_code in (404, 422)


@needs_chromium
async def test_sign_in_open_a_task_approve_and_see_the_case_move_on(
    live: Live, waiting_case: Uploaded, browser
):
    from playwright.async_api import expect

    case_id = waiting_case.case_id
    # Alice opened the case, so she may not approve it: the page says so in the API's words.
    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, live.tokens["alice"])
        await expect(page.get_by_test_id("who")).to_contain_text("c-alice", timeout=UI_TIMEOUT_MS)
        await page.goto(f"{live.base_url}/console#/case/{case_id}", timeout=UI_TIMEOUT_MS)
        await page.click("button[data-decision=approve]")
        refusal = page.get_by_test_id("decision-result")
        await expect(refusal).to_contain_text("HTTP 403", timeout=45_000)
        await expect(refusal).to_contain_text("may not approve")
        await expect(page.get_by_test_id("case-status")).to_have_attribute(
            "data-status", "AWAITING_APPROVAL"
        )
        await page.screenshot(path=str(SCREENSHOTS / "console-refused.png"))
        assert not problems, problems
    finally:
        await context.close()

    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, live.tokens["dave"])
        await expect(page.get_by_test_id("who")).to_contain_text("c-dave", timeout=UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("who")).to_contain_text("经办员")
        row = page.locator(f'[data-testid=tasks] tr[data-case-id="{case_id}"]')
        await expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
        await row.locator("button[data-action=claim]").click()
        await expect(row.get_by_test_id("assignee")).to_have_text("c-dave")
        await expect(row.locator("button[data-action=release]")).to_be_visible()
        await page.screenshot(path=str(SCREENSHOTS / "console-inbox.png"))
        await row.get_by_test_id("open-task").click()

        status = page.get_by_test_id("case-status")
        await expect(status).to_have_attribute("data-status", "AWAITING_APPROVAL")
        await expect(page.get_by_test_id("document")).to_have_count(len(REQUIRED))
        names = page.locator('[data-testid=ocr-field][data-field="name"]')
        await expect(names.first).to_contain_text(waiting_case.name)
        await expect(page.get_by_test_id("risk-grade")).to_have_attribute(
            "data-grade", re.compile("^(LOW|MEDIUM|HIGH)$")
        )
        await expect(page.get_by_test_id("id-number")).to_contain_text("*")  # masked by the API
        thumbnails = page.get_by_test_id("thumbnail")
        await expect(thumbnails).to_have_count(len(REQUIRED), timeout=UI_TIMEOUT_MS)
        widths = await thumbnails.evaluate_all(
            "imgs => imgs.map(i => i.complete && i.naturalWidth)"
        )
        assert all(widths), f"a thumbnail did not load: {widths}"
        # Each thumbnail is a read of the file, recorded once per fetch (the lightbox reuses it).
        dave_read = {doc for who, doc in await viewed(live, case_id) if who == "c-dave"}
        assert dave_read == set(waiting_case.documents)
        await page.screenshot(path=str(SCREENSHOTS / "console-case.png"), full_page=True)

        # Document review (if OCR doubted anything) comes before the approval; operators do both.
        for _ in range(3):
            task = page.locator("[data-testid=open-task][data-kind]")
            await expect(task).to_be_visible(timeout=UI_TIMEOUT_MS)
            kind = await task.get_attribute("data-kind")
            assert kind in ("document_review", "approval"), f"dave cannot decide a {kind} task"
            await page.fill("textarea[name=comment]", f"控制台测试：{kind} 通过")
            await page.click("button[data-decision=approve]")
            await expect(page.get_by_test_id("decision-done")).to_be_visible(timeout=45_000)
            if kind == "approval":
                break
            await expect(page.locator("[data-testid=open-task][data-kind=approval]")).to_be_visible(
                timeout=60_000
            )

        await expect(status).not_to_have_attribute(
            "data-status", "AWAITING_APPROVAL", timeout=60_000
        )
        await expect(status).to_have_attribute(
            "data-status", re.compile("^(DEREGISTERING|COMPLETED)$")
        )
        await expect(status).to_have_attribute("data-status", "COMPLETED", timeout=60_000)
        await expect(
            page.locator('[data-testid=timeline] li[data-event="status.completed"]')
        ).to_be_visible()
        await page.screenshot(path=str(SCREENSHOTS / "console-done.png"), full_page=True)
        assert not problems, problems
    finally:
        await context.close()

    final = (await live.api.get(f"/cases/{case_id}", headers=live.auth("carol"))).json()
    assert final["status"] == "COMPLETED"
    assert any(
        d["actor"] == "c-dave" and d["comment"].startswith("控制台测试") for d in final["approvals"]
    )


@needs_chromium
async def test_a_bad_token_is_refused_plainly_and_english_is_remembered(
    live: Live, waiting_case: Uploaded, browser
):
    from playwright.async_api import expect

    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, "not-a-real-token")
        error = page.get_by_test_id("signin-error")
        await expect(error).to_contain_text("401", timeout=UI_TIMEOUT_MS)
        await expect(error).to_contain_text("unknown token")
        await page.click("#lang-toggle")
        await expect(page.locator("#signin h2")).to_have_text("Sign in")
        await page.reload(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#signin h2")).to_have_text("Sign in")
        await expect(page.locator("#lang-toggle")).to_have_text("中文")

        await sign_in(page, live.tokens["carol"])  # an auditor: signed in, nothing to decide
        await expect(page.get_by_test_id("who")).to_contain_text("Auditor", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("[data-slot=empty]")).to_have_text("No open tasks")
        await page.click("#nav a[data-route=cases]")
        await page.fill("input[name=q]", waiting_case.name)
        await page.click("form.search button[type=submit]")
        found = page.locator(f'[data-testid=cases] tr[data-case-id="{waiting_case.case_id}"]')
        await expect(found).to_be_visible(timeout=UI_TIMEOUT_MS)
        await found.locator("a").first.click()
        # Auditors may see full numbers; asking for them is audited by the API.
        id_number = page.get_by_test_id("id-number")
        await expect(id_number).to_contain_text("*", timeout=UI_TIMEOUT_MS)
        await page.click("[data-slot=reveal]")
        await expect(id_number).not_to_contain_text("*", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("[data-slot=reveal]")).to_have_text("Hide full details")
        await expect(
            page.locator('[data-testid=timeline] li[data-event="pii.revealed"]')
        ).to_be_visible()
        await page.click("#signout")
        await expect(page.locator("#signin")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('jieya.token')") is None
        assert not problems, problems
    finally:
        await context.close()


@needs_chromium
async def test_a_document_that_disagrees_with_the_case_is_highlighted(live: Live, browser):
    from playwright.async_api import expect

    facts = new_facts()
    stranger = next(name for name in (new_facts().name for _ in range(50)) if name != facts.name)
    case = await open_waiting_case(
        live, facts, {DocType.ID_CARD: facts.model_copy(update={"name": stranger})}
    )
    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, live.tokens["dave"])
        await expect(page.get_by_test_id("who")).to_contain_text("c-dave", timeout=UI_TIMEOUT_MS)
        await page.goto(f"{live.base_url}/console#/case/{case.case_id}", timeout=UI_TIMEOUT_MS)
        id_card = page.locator("[data-testid=document][data-doc-type=id_card]")
        name = id_card.locator("[data-testid=ocr-field][data-field=name]")
        await expect(name).to_have_attribute("data-mismatch", "true", timeout=UI_TIMEOUT_MS)
        await expect(name).to_have_class(re.compile(r"\bmismatch\b"))
        await expect(name).to_contain_text(stranger)  # what the card says
        await expect(name).to_contain_text(facts.name)  # what the case says
        settlement = page.locator("[data-testid=document][data-doc-type=settlement_certificate]")
        await expect(
            settlement.locator("[data-testid=ocr-field][data-field=name]")
        ).to_have_attribute("data-mismatch", "false")
        await expect(page.get_by_test_id("risk-reasons")).to_contain_text("name")
        await page.screenshot(path=str(SCREENSHOTS / "console-mismatch.png"), full_page=True)
        assert not problems, problems
    finally:
        await context.close()


@needs_chromium
async def test_an_incident_is_shown_in_plain_words_and_a_senior_skips_it(
    live: Live, sms_sim: str, browser
):
    """The SMS gateway refuses the "received" message: the case carries on awaiting
    documents with an incident beside it, which only a senior resolves from the page.
    Operators are offered the buttons and hear the server's refusal."""
    from playwright.async_api import expect

    from tests.utils.simulators import sim_faults

    facts = new_facts()
    async with (
        httpx.AsyncClient(timeout=10) as http,
        sim_faults(http, sms_sim, fail_keys=[":received:"]),
    ):
        case_id = await open_case(live, facts)
        case = await poll_case(live, case_id, lambda c: c["incident"] is not None)
    incident = case["incident"]
    assert incident["step"] == "notify_customer" and incident["side"], incident
    card = f'[data-testid=open-task][data-kind=incident][data-task-id="{incident["task_id"]}"]'

    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, live.tokens["dave"])
        await expect(page.get_by_test_id("who")).to_contain_text("c-dave", timeout=UI_TIMEOUT_MS)
        await page.goto(f"{live.base_url}/console#/case/{case_id}", timeout=UI_TIMEOUT_MS)
        shown = page.locator(card)
        await expect(shown.get_by_test_id("incident")).to_have_attribute(
            "data-step", "notify_customer"
        )
        await expect(shown.get_by_test_id("senior-queue")).to_be_visible()
        await shown.locator("button[data-decision=retry]").click()
        refusal = shown.get_by_test_id("decision-result")
        await expect(refusal).to_contain_text("HTTP 403", timeout=45_000)
        await expect(refusal).to_contain_text("senior queue")
        assert not problems, problems
    finally:
        await context.close()

    context, page, problems = await new_page(browser, live)
    try:
        await sign_in(page, live.tokens["bob"])
        await expect(page.get_by_test_id("who")).to_contain_text("c-bob", timeout=UI_TIMEOUT_MS)
        row = page.locator(f'[data-testid=tasks] tr[data-task-id="{incident["task_id"]}"]')
        await expect(row.get_by_test_id("incident-mark")).to_have_text("异常处理")
        await expect(row).to_contain_text("通知客户")

        # The case search finds it under "only cases with an open incident".
        await page.click("#nav a[data-route=cases]")
        await page.fill("input[name=q]", facts.contract_no)
        await page.check("input[name=incident]")
        await page.click("form.search button[type=submit]")
        found = page.locator(f'[data-testid=cases] tr[data-case-id="{case_id}"]')
        await expect(found.get_by_test_id("incident-mark")).to_be_visible(timeout=UI_TIMEOUT_MS)
        await found.locator("a").first.click()

        status = page.get_by_test_id("case-status")
        await expect(status).to_have_attribute("data-status", "AWAITING_DOCUMENTS")
        await expect(page.get_by_test_id("incident-badge")).to_contain_text("通知客户")
        shown = page.locator(card)
        block = shown.get_by_test_id("incident")
        await expect(block).to_have_attribute("data-step", "notify_customer")
        await expect(block).to_have_attribute("data-side", "true")
        await expect(block.get_by_test_id("incident-error-type")).to_have_text(
            "PermanentExternalError"
        )
        await expect(block).to_contain_text("案件同时继续办理")
        await expect(shown.locator("button[data-decision]")).to_have_count(4)
        await expect(shown.get_by_test_id("senior-queue")).to_have_count(0)
        await expect(page.locator("[data-slot=live]")).to_be_hidden()  # waits for a person
        await page.screenshot(path=str(SCREENSHOTS / "console-incident.png"), full_page=True)

        # Without a comment: the page points at the comment box and shows the server's 422.
        await shown.locator("button[data-decision=skip]").click()
        refusal = shown.get_by_test_id("decision-result")
        await expect(refusal).to_contain_text("HTTP 422", timeout=45_000)
        await expect(refusal).to_contain_text("comment_required")
        await expect(shown.get_by_test_id("comment-hint")).to_have_class(re.compile(r"\bwanted\b"))

        await shown.locator("textarea[name=comment]").fill("控制台测试：已电话通知客户")
        await shown.locator("button[data-decision=skip]").click()
        await expect(page.get_by_test_id("decision-done")).to_be_visible(timeout=45_000)
        await expect(page.locator(card)).to_have_count(0)
        await expect(page.get_by_test_id("incident-badge")).to_be_hidden(timeout=UI_TIMEOUT_MS)
        await expect(status).to_have_attribute("data-status", "AWAITING_DOCUMENTS")
        await expect(
            page.locator('[data-testid=timeline] li[data-event="decision.skip"]')
        ).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert not problems, problems
    finally:
        await context.close()

    final = await poll_case(live, case_id, lambda c: c["incident"] is None)
    assert final["status"] == "AWAITING_DOCUMENTS"
    assert [d["decision"] for d in final["approvals"]] == ["skip"]
    listed = (await live.api.get("/cases?incident=true", headers=live.auth("carol"))).json()
    assert case_id not in [c["case_id"] for c in listed["data"]]
