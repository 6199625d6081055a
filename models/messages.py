"""What the customer is told at each milestone (SMS text and e-mail)."""

from models.enums import Milestone, SlaStage

_TEXTS = {
    Milestone.RECEIVED: "您的车辆解押申请（案件号 {case_id}）已受理，请上传结清证明、身份证和机动车登记证书。",
    Milestone.DOCUMENTS_MISSING: "您的解押案件 {case_id} 还需要补充材料：{detail}。",
    Milestone.APPROVED: "您的解押案件 {case_id} 已审核通过，正在向车管所办理抵押注销。",
    Milestone.COMPLETED: "您的车辆抵押已注销（案件号 {case_id}），感谢您的配合。",
    Milestone.REJECTED: "很抱歉，您的解押案件 {case_id} 未通过：{detail}。如有疑问请联系客服。",
    Milestone.CANCELLED: "您的解押案件 {case_id} 因长期未上传材料已取消，如需办理请重新申请。",
    Milestone.WITHDRAWN: "您的解押案件 {case_id} 已取消：{detail}。如有疑问请联系客服。",
}

_SUBJECTS = {
    Milestone.RECEIVED: "解押申请已受理",
    Milestone.DOCUMENTS_MISSING: "解押材料待补充",
    Milestone.APPROVED: "解押审核通过",
    Milestone.COMPLETED: "车辆抵押已注销",
    Milestone.REJECTED: "解押申请未通过",
    Milestone.CANCELLED: "解押案件已取消",
    Milestone.WITHDRAWN: "解押案件已取消",
}


def render_message(milestone: Milestone, case_id: str, detail: str = "") -> tuple[str, str]:
    """Returns (subject, text)."""
    text = _TEXTS[milestone].format(case_id=case_id, detail=detail or "—")
    return _SUBJECTS[milestone], text


def render_staff_alert(alert) -> tuple[str, str]:
    """Subject and text of a reminder, escalation or incident e-mail to the queues."""
    due = alert.due_at.strftime("%Y-%m-%d %H:%M UTC")
    stage = SlaStage.of(alert.stage)
    if stage == SlaStage.INCIDENT and alert.incident is not None:
        incident = alert.incident
        subject = f"[jieya] 故障待处理 {alert.case_id} {incident.step.value}"
        text = (
            f"案件 {alert.case_id} 的步骤 {incident.step.value} 已放弃（{incident.error_type}，"
            f"尝试 {incident.attempts} 次）：{incident.message}\n"
            f"请在 {due} 前处理任务 {alert.task_id}：重试、跳过（如允许）、拒绝或取消。"
        )
    elif stage == SlaStage.OVERDUE:
        subject = f"[jieya] 仍未处理 {alert.case_id} {alert.kind.value}"
        text = f"案件 {alert.case_id} 的任务 {alert.task_id}（{alert.kind.value}）已于 {due} 到期，至今仍未处理。"
    elif stage == SlaStage.ESCALATION:
        subject = f"[jieya] 已超时升级 {alert.case_id} {alert.kind.value}"
        text = f"案件 {alert.case_id} 的任务 {alert.task_id}（{alert.kind.value}）已超过处理时限 {due}，已升级至高级审核队列。"
    else:
        subject = f"[jieya] 即将超时 {alert.case_id} {alert.kind.value}"
        text = f"案件 {alert.case_id} 的任务 {alert.task_id}（{alert.kind.value}）将于 {due} 到期，请尽快处理。"
    return subject, text


def render_guarantor_release(case_id: str, contract_no: str, guarantor: str) -> tuple[str, str]:
    subject = f"担保责任解除确认 合同 {contract_no}"
    text = (
        f"{guarantor}：借款合同 {contract_no} 已全部结清，车辆抵押注销已获批准（案件号 {case_id}）。"
        "贵司对该笔贷款的担保责任自即日起解除，特此确认。"
    )
    return subject, text
