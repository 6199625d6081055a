// Document cards: a thumbnail fetched with the token (an <img> cannot send one),
// and the OCR reading with the fields that disagree with the case highlighted.

import { request } from "./api.js";
import { fill, formatSize, formatTime, h } from "./dom.js";
import { T, label, t } from "./i18n.js";
import { describe } from "./ui.js";

const blobs = new Map(); // document_id -> Promise<object URL>; documents never change

function content(caseId, documentId) {
  if (!blobs.has(documentId)) {
    const path = `/cases/${encodeURIComponent(caseId)}/documents/${encodeURIComponent(documentId)}/content`;
    const url = request(path, { as: "blob" }).then((blob) => URL.createObjectURL(blob));
    url.catch(() => blobs.delete(documentId)); // let a later render try again
    blobs.set(documentId, url);
  }
  return blobs.get(documentId);
}

export function forgetDocuments() {
  for (const url of blobs.values()) url.then(URL.revokeObjectURL, () => {});
  blobs.clear();
}

function openLightbox(url) {
  const box = document.getElementById("lightbox");
  box.querySelector("img").src = url;
  box.hidden = false;
}

export function installLightbox() {
  const box = document.getElementById("lightbox");
  const close = () => {
    box.hidden = true;
    box.querySelector("img").removeAttribute("src");
  };
  box.addEventListener("click", close);
  document.addEventListener("keydown", (event) => event.key === "Escape" && close());
}

function thumbnail(caseId, doc) {
  const isPdf = doc.media_type === "application/pdf";
  const frame = h("button", { type: "button", class: "thumb loading", "data-i18n-title": "doc.open", title: t("doc.open") }, T("loading"));
  content(caseId, doc.document_id).then(
    (url) => {
      frame.classList.remove("loading");
      if (isPdf) {
        fill(frame, h("span", { class: "pdf" }, "PDF"), h("small", {}, T("doc.pdf")));
        frame.addEventListener("click", () => window.open(url, "_blank", "noopener"));
      } else {
        fill(frame, h("img", { src: url, alt: t(`doc.${doc.doc_type}`), "data-testid": "thumbnail" }));
        frame.addEventListener("click", () => openLightbox(url));
      }
    },
    (error) => {
      frame.classList.remove("loading");
      frame.classList.add("broken");
      fill(frame, T("doc.unavailable"), h("small", {}, describe(error)));
    },
  );
  return frame;
}

function reading(field) {
  // Each field is {value, confidence, valid}; be lenient with anything simpler.
  return field && typeof field === "object" ? field : { value: field };
}

// The API masks ID and phone numbers in readings too (unless the case was revealed).
function fieldRows(doc) {
  const fields = doc.ocr.fields || {};
  const mismatches = new Map((doc.ocr.mismatches || []).map((m) => [m.field, m]));
  return Object.entries(fields).map(([key, raw]) => {
    const field = reading(raw);
    const mismatch = mismatches.get(key);
    const invalid = field.valid === false;
    const classes = [mismatch ? "mismatch" : "", invalid ? "invalid" : ""].join(" ").trim();
    const confidence = Number.isFinite(field.confidence) ? `${Math.round(field.confidence * 100)}%` : "";
    return h(
      "tr",
      { class: classes, "data-testid": "ocr-field", "data-field": key, "data-mismatch": mismatch ? "true" : "false" },
      h("th", {}, label("field", key)),
      h(
        "td",
        {},
        h("span", { class: "value" }, field.value || "—"),
        mismatch ? h("div", { class: "expected" }, "⚠ ", T("ocr.mismatch"), " · ", T("ocr.expected"), " ", h("span", { class: "mono" }, mismatch.expected ?? "—")) : null,
        invalid && !mismatch ? h("div", { class: "expected" }, T("ocr.invalid")) : null,
      ),
      h("td", { class: "num muted" }, confidence),
    );
  });
}

const issueText = (issue) => (typeof issue === "string" ? issue : JSON.stringify(issue));

function ocrBlock(doc) {
  if (!doc.ocr) return h("p", { class: "muted" }, T("ocr.pending"));
  const flagged = doc.ocr.needs_review || (doc.ocr.mismatches || []).length > 0;
  const rows = fieldRows(doc);
  const issues = (doc.ocr.issues || []).map((issue) => h("li", {}, issueText(issue)));
  return h(
    "div",
    { class: "ocr" },
    h("span", { class: `badge ${flagged ? "warn" : "ok"}` }, T(flagged ? "ocr.needs_review" : "ocr.ok")),
    rows.length
      ? h("table", { class: "fields" }, h("thead", {}, h("tr", {}, h("th", {}, T("ocr.field")), h("th", {}, T("ocr.value")), h("th", { class: "num" }, T("ocr.confidence")))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, T("ocr.empty")),
    issues.length ? h("div", { class: "issues" }, h("strong", {}, T("ocr.issues")), h("ul", {}, issues)) : null,
  );
}

export function documentCard(caseId, doc) {
  return h(
    "article",
    { class: "document", "data-testid": "document", "data-doc-type": doc.doc_type, "data-document-id": doc.document_id },
    thumbnail(caseId, doc),
    h(
      "div",
      { class: "document-body" },
      h("h4", {}, label("doc", doc.doc_type)),
      h("p", { class: "muted small" }, formatTime(doc.created_at), " · ", formatSize(doc.size_bytes), " · ", h("span", { class: "mono" }, doc.document_id)),
      ocrBlock(doc),
    ),
  );
}
