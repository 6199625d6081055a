// UI texts in Chinese (default) and English, from the dictionary the server embeds in the page.
// Translated nodes carry their key, so switching language re-labels the page in place
// without re-rendering it (a half-written comment survives).

import { h } from "./dom.js";

const STORAGE_KEY = "jieya.language";
const messages = JSON.parse(document.getElementById("messages").textContent);
const fallback = document.body.dataset.language || "zh";

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

let language = stored() in messages ? stored() : fallback;

export const languages = Object.keys(messages);
export const getLanguage = () => language;

export function has(key) {
  return key in messages[language] || key in messages[fallback];
}

export function t(key, vars = {}) {
  const text = messages[language][key] ?? messages[fallback][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

// A span that keeps its key and follows language changes.
export function T(key, vars) {
  const attrs = { "data-i18n": key };
  if (vars) attrs["data-i18n-vars"] = JSON.stringify(vars);
  return h("span", attrs, t(key, vars));
}

// A translated label for an enum value, or the value itself when we have no words for it.
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${prefix}.${value}`;
  return has(key) ? T(key) : String(value);
}

export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.title = t(el.dataset.i18nTitle);
  }
  if (root === document) {
    document.documentElement.lang = language === "zh" ? "zh-CN" : language;
    document.title = `${t("app.title")} · jieya`;
  }
}

export function setLanguage(next) {
  if (!(next in messages)) return;
  language = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  apply(document);
}
