// The login page, and the first-run set-up while the box has no admin account yet.
import { $ } from "./dom.js";
import { lang, loadLanguages, setLang, t, translate } from "./i18n.js";
import { refusalText } from "./refusals.js";

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { response, data };
}

// What went wrong and what to do next, in the reader's language (the box answers with a code).
function explain(response, data) {
  const said = refusalText(data.code || "unknown", data.params || {}, response.status);
  return `${said.text} ${said.next}`;
}

function showLang() {
  for (const b of document.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang()));
  translate();
}

async function boot() {
  const state = await fetch("/api/auth/state").then((r) => r.json());
  await loadLanguages(state.language);
  const setup = state.setup_needed;
  $("#setup-form").hidden = !setup;
  $("#login-form").hidden = setup;
  $("#login-hint").hidden = setup;
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => { setLang(b.dataset.lang); showLang(); });
  showLang();
  (setup ? $("#setup-token") : $("#name")).focus();

  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#login-error").textContent = "";
    $("#login-submit").disabled = true;
    const { response, data } = await post("/api/auth/login", { name: $("#name").value.trim(), password: $("#password").value });
    $("#login-submit").disabled = false;
    if (response.ok) window.location.href = "/";
    else $("#login-error").textContent = explain(response, data);
  });

  $("#setup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = $("#setup-error");
    error.textContent = "";
    if ($("#setup-password").value !== $("#setup-repeat").value) {
      error.textContent = t("setup.mismatch");
      return;
    }
    const { response, data } = await post("/api/auth/setup", {
      token: $("#setup-token").value, name: $("#setup-name").value.trim().toLowerCase(),
      display_name: $("#setup-display").value, password: $("#setup-password").value,
    });
    if (response.ok) window.location.href = "/#/admin";
    else error.textContent = explain(response, data);
  });
}

boot();
