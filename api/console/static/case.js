// One case: what it is, where it stands, its documents, its open tasks with their decision
// forms, and the audit timeline. It refreshes itself while the case is moving on its own.

import { capabilities, request } from "./api.js";
import { clone, facts, fill, formatTime, h, slot } from "./dom.js";
import { documentCard } from "./documents.js";
import { T, apply, label } from "./i18n.js";
import { decisionText, isIncident, openTasks, taskCard } from "./tasks.js";
import { gradeBadge, showError, statusBadge } from "./ui.js";

const POLL_MS = 2000;
const HIDDEN_DETAILS = new Set(["sha256", "hash", "event_key", "box", "key", "idempotency_key"]);

// Moving on its own: worth refreshing until a person is needed or it is closed. An open
// incident waits for a person whatever the main flow does; a task decided here refreshes
// the page until its row says it is closed.
function moving(c, open, decided) {
  if (open.some(isIncident)) return false;
  if ((c.tasks || []).some((task) => task.state === "open" && decided.has(task.task_id))) return true;
  if (c.status === "IN_REVIEW" || c.status === "DEREGISTERING") return true;
  return c.status === "AWAITING_APPROVAL" && !open.length;
}

function eventLabel(event) {
  if (event.startsWith("status.")) return [T("event.status"), " → ", label("status", event.slice(7).toUpperCase())];
  return label("event", event);
}

// Detail values that are our own vocabulary get words; the rest is shown as recorded.
const DETAIL_LABELS = { step: "step", status: "status", kind: "kind", grade: "grade", doc_type: "doc", decision: "decision", role: "role", documents: "doc" };

function detailText(value) {
  if (Array.isArray(value)) return value.map(detailText).join("; ");
  if (value && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function detailValue(key, value) {
  if (typeof value === "boolean") return T(value ? "yes" : "no");
  const prefix = DETAIL_LABELS[key];
  if (prefix && Array.isArray(value)) return value.flatMap((v, i) => (i ? ["、", label(prefix, v)] : [label(prefix, v)]));
  if (prefix && typeof value === "string") return label(prefix, value);
  const text = detailText(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function timelineItem(event) {
  const details = Object.entries(event.details || {})
    .filter(([key, value]) => !HIDDEN_DETAILS.has(key) && value !== null && value !== "" && !(Array.isArray(value) && !value.length))
    .map(([key, value]) => h("li", {}, h("span", { class: "muted" }, label("detail", key), ": "), detailValue(key, value)));
  return h(
    "li",
    { "data-event": event.event },
    h("div", { class: "when muted small" }, `#${event.seq} · ${formatTime(event.created_at)} · ${event.actor}`),
    h("div", { class: "what" }, eventLabel(event.event)),
    details.length ? h("ul", { class: "details small" }, details) : null,
  );
}

function riskBlock(c) {
  if (!c.risk) return h("p", { class: "muted" }, T("case.risk_none"));
  const reasons = c.risk.reasons || [];
  return h(
    "div",
    {},
    h("p", {}, gradeBadge(c.risk.grade), " ", h("span", { class: "muted small" }, T("case.required_approvals"), `: ${c.risk.required_approvals}`)),
    reasons.length
      ? h("ul", { class: "reasons", "data-testid": "risk-reasons" }, reasons.map((r) => h("li", {}, r)))
      : h("p", { class: "muted" }, T("case.risk_no_reasons")),
  );
}

function approvalsBlock(c) {
  if (!c.approvals?.length) return null;
  return h(
    "section",
    { class: "card approvals" },
    h("h3", {}, T("case.approvals")),
    h(
      "ul",
      {},
      c.approvals.map((d) => h("li", {}, h("strong", {}, label("decision", d.decision)), ` · ${d.actor} (`, label("role", d.role), `) · ${formatTime(d.created_at)}`, d.comment ? h("div", { class: "comment" }, d.comment) : null)),
    ),
  );
}

export async function renderCase(view, caseId, who) {
  const root = clone("tpl-case");
  apply(root);
  fill(view, root);
  fill(slot(root, "case-id"), h("span", { class: "mono" }, caseId));
  let caps = await capabilities();
  let reveal = false;
  let timer = null;
  let alive = true;
  let drawn = "";
  let notice = null; // what we just did, shown above the task cards
  const decidedTasks = new Set();
  const cards = new Map(); // task_id -> its card, for as long as the task is open

  function drawTasks(c, open) {
    for (const id of [...cards.keys()]) if (!open.some((task) => task.task_id === id)) cards.delete(id);
    const shown = open.map((task) => {
      if (!cards.has(task.task_id)) cards.set(task.task_id, taskCard(c, task, who, decided));
      const card = cards.get(task.task_id);
      card.update(c, task);
      return card.el;
    });
    const none = h("section", { class: "card" }, h("h3", {}, T("case.task")), h("p", { class: "muted", "data-testid": "no-task" }, T("case.no_task")));
    fill(slot(root, "tasks"), notice, shown.length ? shown : none, approvalsBlock(c));
  }

  function draw(c, history) {
    const open = openTasks(c, decidedTasks);
    const incident = open.find(isIncident);
    statusBadge(slot(root, "status"), c.status);
    slot(root, "incident").hidden = !incident;
    fill(slot(root, "incident"), incident ? [T("incident.badge"), " · ", label("step", incident.details?.step)] : null);
    fill(slot(root, "step"), label("step", c.step));
    slot(root, "step").dataset.step = c.step;
    facts(slot(root, "summary"), [
      [T("case.contract"), h("span", { class: "mono" }, c.loan_contract_no)],
      [T("case.branch"), c.branch],
      [T("case.opened_by"), c.opened_by],
      [T("case.created"), formatTime(c.created_at)],
      [T("case.updated"), formatTime(c.updated_at)],
    ]);
    facts(slot(root, "borrower"), [
      [T("field.name"), c.borrower?.name],
      [T("field.id_number"), h("span", { class: "mono", "data-testid": "id-number" }, c.borrower?.id_number)],
      [T("field.phone"), h("span", { class: "mono" }, c.borrower?.phone)],
    ]);
    facts(slot(root, "vehicle"), [
      [T("field.plate_no"), h("span", { class: "mono" }, c.vehicle?.plate_no)],
      [T("field.vin"), h("span", { class: "mono" }, c.vehicle?.vin)],
    ]);
    const revealButton = slot(root, "reveal");
    revealButton.hidden = !caps.reveal;
    fill(revealButton, T(reveal ? "case.hide" : "case.reveal"));
    fill(slot(root, "risk"), riskBlock(c));
    const missing = c.status === "AWAITING_DOCUMENTS" ? c.missing_documents || [] : [];
    fill(slot(root, "missing"), missing.length ? h("p", { class: "missing" }, T("case.missing"), ": ", missing.map((d) => h("span", { class: "chip" }, label("doc", d)))) : null);
    const documents = c.documents || [];
    fill(slot(root, "documents"), documents.length ? documents.map((d) => documentCard(c.case_id, d)) : h("p", { class: "muted" }, T("case.no_documents")));
    drawTasks(c, open);
    const events = [...(history?.data || [])].reverse(); // newest first
    fill(slot(root, "timeline"), events.map((e) => timelineItem(e)));
  }

  function decided(updated, decision, task) {
    decidedTasks.add(task.task_id);
    reveal = false; // the decision's answer carries masked numbers
    notice = h("p", { class: "notice", "data-testid": "decision-done" }, T("decision.done"), ": ", decisionText(task, decision));
    drawn = "";
    refresh(updated);
  }

  // A reveal is one deliberate, audited read: automatic refreshes go back to masked numbers.
  async function refresh(known = null, automatic = false) {
    clearTimeout(timer);
    if (automatic) reveal = false;
    try {
      const query = reveal ? { reveal: "true" } : {};
      const path = `/cases/${encodeURIComponent(caseId)}`;
      // The case first: reading it may itself add to the history (a reveal is audited).
      const c = known || (await request(path, { query }));
      const history = await request(`${path}/history`);
      if (!alive) return;
      const shape = JSON.stringify([c, history.count, reveal]);
      if (shape !== drawn) {
        drawn = shape;
        draw(c, history);
      }
      const auto = moving(c, openTasks(c, decidedTasks), decidedTasks);
      slot(root, "live").hidden = !auto;
      if (auto) timer = setTimeout(() => refresh(null, true), POLL_MS);
    } catch (error) {
      if (!alive) return;
      if (reveal && error.status === 403) {
        // This role may not see full numbers: say so where the button was, and stop offering it.
        reveal = false;
        caps = { ...caps, reveal: false };
        slot(root, "reveal").hidden = true;
        fill(slot(root, "reveal-refused"), h("span", { class: "error small" }, T("case.reveal_refused"), `: ${error.message}`));
        return refresh();
      }
      if (error.status === 404) fill(slot(root, "step"), T("case.not_found"));
      showError(error);
    }
  }

  slot(root, "reveal").addEventListener("click", () => {
    reveal = !reveal;
    drawn = "";
    refresh();
  });
  await refresh();
  return {
    cleanup() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
