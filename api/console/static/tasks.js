// The case's open tasks, each a card with its own decision form that names its task:
// the main flow's task first, then incidents raised beside it. A card lives as long
// as its task is open, so a refresh of the page never loses a half-written comment.

import { request } from "./api.js";
import { facts, fill, formatTime, h, newKey } from "./dom.js";
import { T, label, t } from "./i18n.js";
import { clearError, describe, overdue } from "./ui.js";

const DOC_TYPES = ["settlement_certificate", "id_card", "vehicle_registration_certificate", "driving_license"];
const SENIOR_ROLES = new Set(["senior", "admin"]);
const CONFIRM = { reject: "decision.confirm_reject", cancel: "decision.confirm_cancel" };

// What each kind of task is answered with ([decision, button style]), which answers need a
// comment (the server says so too), and whether documents can be asked for.
const REVIEW = {
  decisions: [["approve", "primary"], ["request_documents", "secondary"], ["reject", "danger"]],
  needsComment: [],
  documents: true,
};
const FORMS = {
  incident: {
    decisions: [["retry", "primary"], ["skip", "secondary"], ["reject", "danger"], ["cancel", "danger"]],
    needsComment: ["skip", "reject", "cancel"],
    documents: false,
  },
  registry_follow_up: {
    decisions: [["approve", "primary"], ["retry", "secondary"], ["request_documents", "secondary"], ["reject", "danger"], ["cancel", "danger"]],
    needsComment: ["cancel"],
    documents: true,
  },
};

export const isIncident = (task) => task.kind === "incident";

// The case's open tasks, as its rows say; a task decided on this page is done already
// (the page refreshes until its row says so too).
export function openTasks(c, decided) {
  const open = (c.tasks || []).filter((task) => task.state === "open" && !decided.has(task.task_id));
  return [...open.filter((task) => !task.details?.side), ...open.filter((task) => task.details?.side)];
}

// A registry follow-up's "approve" sends again after a refusal and chases a late answer.
export function decisionText(task, decision) {
  if (task.kind !== "registry_follow_up") return T(`decision.${decision}`);
  const outcome = task.details?.outcome;
  if (decision === "approve") return T(outcome === "REJECTED" ? "decision.resubmit" : outcome === "PENDING" ? "decision.chase" : "decision.registry_again");
  if (decision === "retry" && outcome === "PENDING") return T("decision.keep_waiting");
  return T(`decision.${decision}`);
}

function decisionForm(caseId, task, onDecided) {
  const form = FORMS[task.kind] || REVIEW;
  const keys = {}; // one Idempotency-Key per decision kind: a retry is the same decision
  const comment = h("textarea", { name: "comment", rows: 3, maxlength: 2000, "data-i18n-placeholder": "decision.comment_placeholder", placeholder: t("decision.comment_placeholder") });
  const hint = form.needsComment.length ? h("p", { class: "comment-hint small", "data-testid": "comment-hint" }, T(`decision.needs_comment.${task.kind}`)) : null;
  const boxes = form.documents ? DOC_TYPES.map((type) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "documents", value: type }), " ", label("doc", type))) : [];
  const result = h("div", { class: "form-result", role: "status", "data-testid": "decision-result" });
  const offered = form.decisions.filter(([decision]) => decision !== "skip" || task.details?.skippable);
  const buttons = offered.map(([decision, style]) =>
    h("button", { type: "button", class: style, "data-decision": decision, onclick: () => submit(decision) }, decisionText(task, decision)),
  );

  async function submit(decision) {
    const missing = form.needsComment.includes(decision) && !comment.value.trim();
    // Without the comment the server refuses anyway: say so and show its words, no dialog first.
    hint?.classList.toggle("wanted", missing);
    if (!missing && CONFIRM[decision] && !window.confirm(t(CONFIRM[decision]))) return;
    keys[decision] ||= newKey();
    const documents = decision === "request_documents" ? boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value) : [];
    buttons.forEach((b) => (b.disabled = true));
    fill(result, h("span", { class: "muted" }, T("decision.sending")));
    result.className = "form-result";
    try {
      const updated = await request(`/cases/${encodeURIComponent(caseId)}/decisions`, {
        method: "POST",
        headers: { "Idempotency-Key": keys[decision] },
        json: { decision, comment: comment.value.trim(), documents, task_id: task.task_id },
      });
      clearError();
      onDecided(updated, decision);
    } catch (error) {
      result.className = "form-result error";
      fill(result, describe(error));
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  return h(
    "form",
    { class: "decision", "data-testid": "decision-form", onsubmit: (event) => event.preventDefault() },
    h("label", {}, T("decision.comment")),
    comment,
    hint,
    boxes.length ? h("fieldset", {}, h("legend", {}, T("decision.documents")), h("div", { class: "checks" }, boxes)) : null,
    h("div", { class: "buttons" }, buttons),
    result,
  );
}

function taskLine(task) {
  return h(
    "span",
    { class: "muted small" },
    T("col.round"),
    ` ${task.round} · `,
    T("col.due"),
    ` ${formatTime(task.due_at)} `,
    overdue(task),
    task.assignee ? ` · ${task.assignee}` : null,
  );
}

// What gave up, in plain words: the step, how it failed, since when, what it means for the case.
function incidentBlock(task) {
  const d = task.details || {};
  const dl = h("dl", { class: "facts" });
  facts(dl, [
    [T("incident.step"), label("step", d.step)],
    [T("incident.error_type"), h("span", { class: "mono", "data-testid": "incident-error-type" }, d.error_type)],
    [T("incident.message"), h("span", { class: "incident-message", "data-testid": "incident-message" }, d.message)],
    [T("incident.attempts"), d.attempts],
    [T("incident.since"), formatTime(d.since || task.created_at)],
    [T("incident.effect"), T(d.side ? "incident.side" : "incident.main")],
    [T("incident.skip"), T(d.skippable ? "incident.skippable" : "incident.not_skippable")],
  ]);
  return h("div", { class: "incident-box", "data-testid": "incident", "data-step": d.step || "", "data-side": d.side ? "true" : "false" }, h("p", { class: "lead" }, T("incident.lead")), dl);
}

function registryBlock(task) {
  const dl = h("dl", { class: "facts" });
  facts(dl, [
    [T("registry.outcome"), label("registry", task.details?.outcome)],
    [T("registry.reason"), task.details?.reason],
  ]);
  return dl;
}

function body(c, task, who) {
  const reasons = task.details?.reasons || [];
  const senior = task.queue === "senior" && who?.role && !SENIOR_ROLES.has(who.role);
  return [
    isIncident(task) ? incidentBlock(task) : null,
    task.kind === "registry_follow_up" ? registryBlock(task) : null,
    reasons.length && !c.risk ? h("ul", { class: "reasons" }, reasons.map((r) => h("li", {}, r))) : null,
    senior ? h("p", { class: "senior-note small", "data-testid": "senior-queue" }, T("task.senior_queue")) : null,
  ];
}

// One card per open task; `update` redraws what may change and keeps the form as it is.
export function taskCard(c, task, who, onDecided) {
  const line = h("span");
  const details = h("div");
  const el = h(
    "section",
    { class: `card task-card${isIncident(task) ? " incident" : ""}`, "data-testid": "open-task", "data-kind": task.kind, "data-task-id": task.task_id },
    h("div", { class: "card-head" }, h("h3", { class: "kind" }, label("kind", task.kind)), line),
    details,
    decisionForm(c.case_id, task, (updated, decision) => onDecided(updated, decision, task)),
  );
  function update(current, fresh) {
    fill(line, taskLine(fresh));
    fill(details, body(current, fresh, who));
  }
  return { el, update };
}
