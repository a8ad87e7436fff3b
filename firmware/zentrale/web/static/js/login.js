// The login page, and the first-run set-up while the box has no admin account yet.
import { $ } from "./dom.js";
import { lang, loadLanguages, setLang, t, translate } from "./i18n.js";

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

function explain(response, data) {
  if (response.status === 429) return t("auth.throttled", { s: data.retry_after || 60 });
  if (response.status === 401) return t(data.error === "wrong set-up token" ? "setup.wrong_token" : "auth.wrong");
  return data.error || response.statusText;
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
