// The task inbox and the case search.

import { capabilities, isMissingRoute, request } from "./api.js";
import { clone, fill, formatTime, h, slot } from "./dom.js";
import { T, apply, label } from "./i18n.js";
import { clearError, gradeBadge, overdue, showError, statusBadge } from "./ui.js";

const STATUSES = ["AWAITING_DOCUMENTS", "IN_REVIEW", "AWAITING_APPROVAL", "DEREGISTERING", "COMPLETED", "REJECTED", "CANCELLED"];

// Incidents stand out in every list: a step gave up and a senior has to decide.
const incidentBadge = (text) => h("span", { class: "badge incident", "data-testid": "incident-mark" }, text);

function kindCell(task) {
  if (task.kind !== "incident") return h("span", { class: "kind" }, label("kind", task.kind));
  return [incidentBadge(label("kind", task.kind)), h("div", { class: "muted small" }, label("step", task.details?.step))];
}

const caseLink = (caseId) => h("a", { href: `#/case/${encodeURIComponent(caseId)}`, class: "mono" }, caseId);

export async function renderInbox(view, who) {
  const root = clone("tpl-inbox");
  apply(root);
  fill(view, root);
  const rows = slot(root, "rows");
  const caps = { ...(await capabilities()) };

  async function act(task, action) {
    try {
      await request(`/tasks/${encodeURIComponent(task.task_id)}/${action}`, { method: "POST", json: {} });
      clearError();
    } catch (error) {
      if (!isMissingRoute(error)) return showError(error);
      caps[action] = false; // this server has no such endpoint: stop offering it
    }
    await load();
  }

  function actions(task) {
    const buttons = [h("a", { href: `#/case/${encodeURIComponent(task.case_id)}`, class: "button primary small", "data-testid": "open-task" }, T("task.open"))];
    const mine = who?.name && task.assignee === who.name;
    if (caps.claim && !task.assignee) {
      buttons.push(h("button", { type: "button", class: "ghost small", "data-action": "claim", onclick: () => act(task, "claim") }, T("task.claim")));
    }
    if (caps.release && mine) {
      buttons.push(h("button", { type: "button", class: "ghost small", "data-action": "release", onclick: () => act(task, "release") }, T("task.release")));
    }
    return h("div", { class: "actions" }, buttons);
  }

  function row(task) {
    return h(
      "tr",
      { "data-case-id": task.case_id, "data-task-id": task.task_id, "data-kind": task.kind },
      h("td", {}, kindCell(task)),
      h("td", {}, caseLink(task.case_id)),
      h("td", { class: "num" }, task.round),
      h("td", {}, formatTime(task.due_at), " ", overdue(task)),
      h("td", { "data-testid": "assignee" }, task.assignee || h("span", { class: "muted" }, T("task.unassigned"))),
      h("td", { class: "muted" }, formatTime(task.created_at)),
      h("td", {}, actions(task)),
    );
  }

  async function load() {
    fill(rows, h("tr", {}, h("td", { colspan: 7, class: "muted" }, T("loading"))));
    try {
      const tasks = await request("/tasks", { query: { limit: 200 } });
      fill(rows, tasks.data.map(row));
      slot(root, "empty").hidden = tasks.data.length > 0;
      fill(slot(root, "count"), T("inbox.count", { n: tasks.count }));
    } catch (error) {
      fill(rows);
      showError(error);
    }
  }

  root.querySelector('[data-action="refresh"]').addEventListener("click", load);
  await load();
  return {};
}

export async function renderCases(view) {
  const root = clone("tpl-cases");
  apply(root);
  fill(view, root);
  const form = slot(root, "form");
  const rows = slot(root, "rows");
  fill(slot(root, "status"), h("option", { value: "" }, T("search.status_any")), STATUSES.map((s) => h("option", { value: s }, label("status", s))));

  // A case summary does not say whether it has an incident; under the filter, every row does.
  function row(item, incident) {
    const status = statusBadge(h("span"), item.status);
    return h(
      "tr",
      { "data-case-id": item.case_id },
      h("td", {}, caseLink(item.case_id)),
      h("td", { class: "mono" }, item.loan_contract_no),
      h("td", {}, item.borrower?.name),
      h("td", { class: "mono" }, item.vehicle?.plate_no),
      h("td", {}, status, incident ? [" ", incidentBadge(T("incident.badge"))] : null, h("div", { class: "muted small" }, label("step", item.step))),
      h("td", {}, gradeBadge(item.risk_grade)),
      h("td", { class: "muted" }, formatTime(item.updated_at)),
    );
  }

  async function search() {
    const data = new FormData(form);
    fill(rows, h("tr", {}, h("td", { colspan: 7, class: "muted" }, T("loading"))));
    try {
      const incident = data.get("incident") === "true";
      const query = { q: data.get("q").trim(), status: data.get("status"), incident: incident ? "true" : "", limit: 50 };
      const cases = await request("/cases", { query });
      fill(rows, cases.data.map((item) => row(item, incident)));
      slot(root, "empty").hidden = cases.data.length > 0;
      fill(slot(root, "count"), T("search.count", { n: cases.count }));
      clearError();
    } catch (error) {
      fill(rows);
      showError(error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  await search();
  form.elements.q.focus();
  return {};
}
