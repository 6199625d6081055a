"""Demo data for `jieya dev`: a ledger, four operators, and a few cases at
different stages, all created through the real API so they run the real flow."""

from __future__ import annotations

import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

import httpx

from kernel.db import create_engine, session_factory
from kernel.logging import get_logger
from kernel.settings import Settings
from models.enums import DocType, Role
from models.loans import LOAN_COLUMNS, read_loans_csv, upsert_loans
from models.operators import add_operator
from simulators.docgen import DocumentFacts, render

log = get_logger("jieya.seed")

DEMO_OPERATORS = {
    "alice": (Role.OPERATOR, "HQ"),
    "bob": (Role.SENIOR, "HQ"),
    "carol": (Role.AUDITOR, "HQ"),
    "dave": (Role.OPERATOR, "HQ"),
    "admin": (Role.ADMIN, "HQ"),
}
DEMO_DOCS = (
    DocType.SETTLEMENT_CERTIFICATE,
    DocType.ID_CARD,
    DocType.VEHICLE_REGISTRATION_CERTIFICATE,
)


def demo_facts(settings: Settings, count: int = 6, seed: int = 20261201) -> list[DocumentFacts]:
    rng = random.Random(seed)
    facts = []
    for index in range(count):
        fact = DocumentFacts.random(rng)
        fact.lender = settings.lender_name
        fact.contract_no = f"DEMO-{2026_0000 + index + 1}"
        fact.settled_date = (date.today() - timedelta(days=10 + index)).isoformat()
        facts.append(fact)
    return facts


def loans_csv(facts: list[DocumentFacts], active: set[int]) -> str:
    """The ledger as the lender's export would look (DESIGN.md columns)."""
    out = io.StringIO()
    out.write(",".join(LOAN_COLUMNS) + "\n")
    for index, f in enumerate(facts):
        settled = index not in active
        phone = f"139{index:04d}{(index * 7919) % 10000:04d}"
        row = [
            f.contract_no,
            f.name,
            f.id_number,
            phone,
            f.plate_no,
            f.vin,
            f.lender,
            "settled" if settled else "active",
            "0.00" if settled else "35800.00",
            f.settled_date if settled else "",
        ]
        out.write(",".join(row) + "\n")
    return out.getvalue()


def document_png(doc_type: DocType, facts: DocumentFacts, seed: int) -> bytes:
    image, _truth = render(doc_type, facts, seed=seed)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def _credentials(settings: Settings, sessions) -> dict:
    """Reuse tokens across restarts so a newcomer's saved token keeps working."""
    path = settings.data_dir / "dev-credentials.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    credentials = {}
    for name, (role, branch) in DEMO_OPERATORS.items():
        token = known.get(name, {}).get("token")
        token = await add_operator(sessions, name, role, branch, token=token)
        credentials[name] = {"role": role.value, "token": token, "branch": branch}
    path.write_text(json.dumps(credentials, indent=2, ensure_ascii=False))
    path.chmod(0o600)
    return credentials


def _write_demo_files(settings: Settings, facts: list[DocumentFacts], csv_text: str) -> Path:
    folder = settings.data_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loans.csv").write_text(csv_text, encoding="utf-8")
    for index, fact in enumerate(facts):
        for doc_type in DEMO_DOCS:
            target = folder / f"{fact.contract_no}-{doc_type.value}.png"
            if not target.exists():
                target.write_bytes(document_png(doc_type, fact, seed=index))
    return folder


async def _open_case(api: httpx.AsyncClient, token: str, fact: DocumentFacts, phone: str) -> str:
    response = await api.post(
        "/api/v1/cases",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"seed-{fact.contract_no}"},
        json={
            "loan_contract_no": fact.contract_no,
            "borrower": {"name": fact.name, "id_number": fact.id_number, "phone": phone},
            "vehicle": {"plate_no": fact.plate_no, "vin": fact.vin},
        },
    )
    response.raise_for_status()
    return response.json()["case_id"]


async def _upload(api: httpx.AsyncClient, token: str, case_id: str, folder: Path, fact) -> None:
    for doc_type in DEMO_DOCS:
        path = folder / f"{fact.contract_no}-{doc_type.value}.png"
        response = await api.post(
            f"/api/v1/cases/{case_id}/documents",
            headers={"Authorization": f"Bearer {token}"},
            data={"doc_type": doc_type.value},
            files={"file": (path.name, path.read_bytes(), "image/png")},
        )
        response.raise_for_status()


async def seed_demo(settings: Settings, stack: dict[str, str]) -> None:
    """Idempotent: a restarted stack keeps its cases and only re-keys operators."""
    engine = create_engine(stack["database_url"], pool_size=2)
    try:
        sessions = session_factory(engine)
        credentials = await _credentials(settings, sessions)
        facts = demo_facts(settings)
        # The last two loans stay unpaid: one waits for settlement, one is for
        # the newcomer to settle by importing an updated CSV.
        csv_text = loans_csv(facts, active={len(facts) - 2, len(facts) - 1})
        folder = _write_demo_files(settings, facts, csv_text)
        await upsert_loans(sessions, read_loans_csv(csv_text))
    finally:
        await engine.dispose()

    marker = settings.data_dir / "demo" / ".cases-seeded"
    if marker.exists():
        return
    alice = credentials["alice"]["token"]
    phones = {row["contract_no"]: row["phone"] for row in read_loans_csv(csv_text)}
    async with httpx.AsyncClient(base_url=stack["api"], timeout=30.0) as api:
        # Stage 1: opened, waiting for documents.
        await _open_case(api, alice, facts[0], phones[facts[0].contract_no])
        # Stage 2: documents in, goes through review to an approval task.
        for fact in facts[1:3]:
            case_id = await _open_case(api, alice, fact, phones[fact.contract_no])
            await _upload(api, alice, case_id, folder, fact)
        # Stage 3: documents in, but the loan is not yet settled.
        waiting = facts[-2]
        case_id = await _open_case(api, alice, waiting, phones[waiting.contract_no])
        await _upload(api, alice, case_id, folder, waiting)
    marker.write_text("seeded\n")
    log.info("demo data seeded", cases=4, folder=str(folder))
