"""Guarantor release confirmation: when a third-party guarantee company stood
behind the loan, it is told in writing that its guarantee is released."""

from __future__ import annotations

from temporalio import activity

from activities.adapters.ledger import Ledger
from activities.errors import CASE_NOT_FOUND, LOAN_NOT_FOUND, business_error
from activities.notification_activities import Messengers
from activities.outbox import Outbox, OutgoingMessage
from kernel.db import SessionFactory
from models.enums import NotificationChannel
from models.messages import render_guarantor_release
from models.payloads import CaseRef, GuarantorRelease
from models.tables import Case


class GuarantorActivities:
    def __init__(self, sessions: SessionFactory, ledger: Ledger, messengers: Messengers) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._outbox = Outbox(sessions)
        self._messengers = messengers

    @activity.defn
    async def confirm_guarantor_release(self, ref: CaseRef) -> GuarantorRelease:
        """Send the guarantee company its release confirmation (once)."""
        async with self._sessions() as session:
            case = await session.get(Case, ref.case_id)
        if case is None:
            raise business_error(CASE_NOT_FOUND, f"case {ref.case_id} does not exist")
        loan = await self._ledger.get_loan(case.loan_contract_no)
        if loan is None:
            raise business_error(
                LOAN_NOT_FOUND, f"loan {case.loan_contract_no} is not in the ledger"
            )
        if not loan.guarantor:
            return GuarantorRelease(needed=False)
        if not loan.guarantor_email:
            # Nobody to write to: the workflow hands this to a human.
            return GuarantorRelease(needed=True, guarantor=loan.guarantor, confirmed=False)
        subject, text = render_guarantor_release(case.case_id, loan.contract_no, loan.guarantor)
        message = OutgoingMessage(
            dedupe_key=f"{case.case_id}:guarantor_release:email",
            case_id=case.case_id,
            milestone="guarantor_release",
            channel=NotificationChannel.EMAIL.value,
            recipient=loan.guarantor_email,
            subject=subject,
            body=text,
        )
        await self._outbox.record([message])
        await self._outbox.send(message, self._messengers.deliver)
        return GuarantorRelease(needed=True, guarantor=loan.guarantor, confirmed=True)
