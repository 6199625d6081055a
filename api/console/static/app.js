// The console: sign in with a token, then the inbox, the case search and the case page.

import { ApiError, capabilities, clearToken, getToken, isMissingRoute, onUnauthorized, request, setToken } from "./api.js";
import { fill, h } from "./dom.js";
import { renderCase } from "./case.js";
import { forgetDocuments, installLightbox } from "./documents.js";
import { renderCases, renderInbox } from "./inbox.js";
import { T, apply, getLanguage, label, languages, setLanguage } from "./i18n.js";
import { clearError, describe, showError } from "./ui.js";

const $ = (id) => document.getElementById(id);
let who = null; // {name, role, ...} from GET /me, or {} when the server cannot say
let current = null;

// Who the token belongs to. Without GET /me, any cheap authenticated call proves the token.
async function identify() {
  const caps = await capabilities();
  if (caps.me) {
    try {
      return await request("/me", { allowUnauthorized: true });
    } catch (error) {
      if (!isMissingRoute(error)) throw error;
    }
  }
  await request("/tasks", { query: { limit: 1 }, allowUnauthorized: true });
  return {};
}

function showWho() {
  const el = $("who");
  const role = who?.role ? label("role", who.role) : T("who.role_unknown");
  fill(el, h("span", { class: "dot" }), who?.name ? h("strong", {}, who.name) : T("who.signed_in"), " · ", role, who?.branch ? ` · ${who.branch}` : "");
  el.dataset.role = who?.role || "";
  el.hidden = false;
}

function showSignin(problem) {
  current?.cleanup?.();
  current = null;
  who = null;
  $("view").hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  const message = $("signin-error");
  message.hidden = !problem;
  if (problem) fill(message, problem);
  $("token").focus();
}

function parseRoute() {
  const [, name = "inbox", arg] = location.hash.match(/^#\/([a-z]+)(?:\/(.+))?/) || [];
  return { name, arg: arg && decodeURIComponent(arg) };
}

async function show() {
  if (!getToken()) return showSignin();
  if (!who) {
    try {
      who = await identify();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        clearToken();
        return showSignin(describe(error));
      }
      showError(error);
      who = {};
    }
  }
  showWho();
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("signout").hidden = false;
  const view = $("view");
  view.hidden = false;
  current?.cleanup?.();
  const { name, arg } = parseRoute();
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.route === (name === "case" ? "" : name));
  clearError();
  if (name === "case" && arg) current = await renderCase(view, arg, who);
  else if (name === "cases") current = await renderCases(view);
  else current = await renderInbox(view, who);
}

function signOut() {
  clearToken();
  forgetDocuments();
  clearError();
  if (location.hash) history.replaceState(null, "", location.pathname);
  showSignin();
}

function boot() {
  apply(document);
  installLightbox();
  $("lang-toggle").addEventListener("click", () => {
    setLanguage(languages.find((l) => l !== getLanguage()));
  });
  $("signout").addEventListener("click", signOut);
  $("error-dismiss").addEventListener("click", clearError);
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return showSignin(T("signin.empty"));
    fill($("signin-error"), T("signin.checking"));
    $("signin-error").hidden = false;
    setToken(token);
    $("token").value = "";
    who = null;
    await show();
  });
  onUnauthorized((error) => {
    clearToken();
    forgetDocuments();
    showSignin(T("error.unauthorized", { message: error.message }));
  });
  window.addEventListener("hashchange", () => show().catch(showError));
  window.addEventListener("unhandledrejection", (event) => showError(event.reason));
  show().catch(showError);
}

boot();
