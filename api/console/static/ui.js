// Shared bits of the page: the error banner and the status, grade and deadline badges.

import { fill, h } from "./dom.js";
import { ApiError } from "./api.js";
import { T, label } from "./i18n.js";

// What went wrong, in the user's language first and the API's own words after.
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 0) return [T("error.network")];
    const parts = [T("error.http", { status: error.status })];
    if (error.message) parts.push(h("span", { class: "api-message" }, `: ${error.message}`));
    if (error.code) parts.push(h("code", { class: "code" }, error.code));
    return parts;
  }
  return [String(error?.message || error)];
}

export function showError(error) {
  const banner = document.getElementById("error");
  fill(document.getElementById("error-text"), describe(error));
  banner.hidden = false;
}

export function clearError() {
  document.getElementById("error").hidden = true;
}

export function statusBadge(el, status) {
  el.dataset.status = status || "";
  el.className = `badge status-${String(status || "").toLowerCase()}`;
  fill(el, label("status", status));
  return el;
}

export function gradeBadge(grade) {
  if (!grade) return h("span", { class: "badge" }, "—");
  return h("span", { class: `badge grade-${grade.toLowerCase()}`, "data-testid": "risk-grade", "data-grade": grade }, label("grade", grade));
}

export function overdue(task, now = Date.now()) {
  if (!task.due_at) return null;
  const left = new Date(task.due_at).getTime() - now;
  if (left < 0) return h("span", { class: "badge overdue", "data-testid": "overdue" }, T("badge.overdue"));
  if (left < 2 * 3600 * 1000) return h("span", { class: "badge due-soon" }, T("badge.due_soon"));
  return null;
}
