// Verwaltung -> Aktualisierung (admins): the firmware's version, the two root slots, and a
// signed RAUC bundle installed into the slot that is not running -- uploaded from this PC or
// fetched from an address -- then a restart into it (firmware web/updates.py, docs/updates.md).
import { ApiError, api, csrfToken, get } from "./api.js";
import { clear, confirmDialog, h, toast } from "./dom.js";
import { failed, refusalNotice, refusalText } from "./refusals.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

const BUSY = ["receiving", "installing"];
const POLL_MS = 1000;

// The upload with its progress: fetch() cannot report how much of a body is sent, XHR can.
function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/update/bundle");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    const token = csrfToken();
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 401) window.location.href = "/login";
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { code: "update_upload_interrupted", params: {} })));
    xhr.send(file);
  });
}

export function mountUpdates(stack) {
  const box = h("section", { class: "card", id: "updates" });
  stack.append(box);
  let timer = null;
  let sending = null; // {name, part} while this page uploads
  let last = null; // the last answer of GET /api/update
  // made once: a poll redraws the card, and must not drop the file chosen or the address typed
  const file = h("input", { id: "update-file", type: "file", hidden: true, accept: ".raucb" });
  const fileName = h("span", { class: "file-name muted" }, t("library.no_file_chosen"));
  file.addEventListener("change", () => { fileName.textContent = file.files[0] ? file.files[0].name : t("library.no_file_chosen"); });
  const url = h("input", { id: "update-url", type: "url", placeholder: "https://…/zentrale.raucb", autocomplete: "off" });
  url.style.width = "100%"; // an address is long (CSSOM: the CSP refuses style attributes)

  // widths through the CSSOM: the page's Content-Security-Policy refuses style attributes
  const wide = (el) => { el.style.flex = "1"; el.style.width = "100%"; return el; };
  const bar = (value) => wide(h("progress", { id: "update-progress", max: 100, value }));
  const urlRow = (el) => { el.style.gridTemplateColumns = "minmax(0, 1fr) auto"; return el; };
  const fact = (label, id, value) => h("div", { class: "fact" }, h("small", {}, label), h("b", { id }, value));
  const head = () => h("div", { class: "card-head" }, h("h2", {}, t("update.title")), h("span", { class: "muted" }, t("update.hint")));
  const slotState = (s) => (s.primary && s.state !== "booted" ? t("update.slot_next") : t(`update.slot_${s.state || "unknown"}`));
  const bootStatus = (s) => (s.boot_status
    ? t(`update.boot_${["good", "trying"].includes(s.boot_status) ? s.boot_status : "bad"}`) : "–");

  const stateLine = (info) => {
    if (sending) {
      const pct = Math.round(sending.part * 100);
      return h("div", { id: "update-state", "data-state": "uploading" },
        h("p", {}, t("update.uploading", { name: sending.name, percent: pct })),
        bar(pct));
    }
    const s = info.state;
    if (s === "idle") return h("p", { id: "update-state", "data-state": s, class: "muted" }, t("update.state_idle"));
    if (s === "failed") {
      const said = refusalText(info.code, info.params);
      return h("div", { id: "update-state", "data-state": s },
        refusalNotice({ code: said.code, message: said.text, next: said.next }, "update-refusal"));
    }
    const parts = [h("p", {}, h("b", {}, t(`update.state_${s}`)))];
    if (s === "installing" || s === "installed") {
      parts.push(bar(s === "installed" ? 100 : info.progress ?? 0));
    }
    if (s === "installed") {
      parts.push(h("p", { class: "muted" }, t("update.installed_hint")),
        h("button", { type: "button", class: "alarm", id: "update-reboot", onclick: reboot }, icon("power"), t("update.reboot")));
    }
    return h("div", { id: "update-state", "data-state": s, class: s === "installed" ? "notice go" : null }, wide(h("div", { class: "grow" }, parts)));
  };

  // The state part alone, at once (an upload's progress comes faster than a poll).
  const showState = () => {
    const old = box.querySelector("#update-state");
    if (old && last) old.replaceWith(stateLine(last));
  };

  const render = (info) => {
    last = info;
    if (!info.available) {
      const why = info.unavailable_code === "no_answer" ? "update.unavailable_no_answer" : "update.unavailable_not_installed";
      clear(box, head(), h("div", { class: "card-body" },
        h("div", { class: "facts" }, fact(t("update.version"), "update-version", info.version)),
        h("div", { class: "notice info", id: "update-unavailable", "data-why": info.unavailable_code || "" },
          icon("info"), h("div", {}, h("b", {}, t("update.unavailable")), h("div", {}, t(why, { detail: info.unavailable_reason || "" }))))));
      return;
    }
    const busy = sending !== null || BUSY.includes(info.state);
    const rows = info.slots.map((s) => h("tr", { "data-slot": s.bootname, "data-state": s.state || "" },
      h("td", {}, s.bootname || s.name, s.bootname === info.booted ? h("span", { class: "muted" }, ` (${t("update.running")})`) : null),
      h("td", {}, slotState(s)), h("td", { "data-boot": s.boot_status || "" }, bootStatus(s)),
      h("td", { class: "mono slot-version" }, s.version || "–"),
      h("td", { class: "mono" }, (s.installed || "").slice(0, 16).replace("T", " ") || "–")));
    clear(box, head(), h("div", { class: "card-body" },
      h("div", { class: "facts", id: "update-facts" },
        fact(t("update.version"), "update-version", info.version), fact(t("update.release"), "update-release", info.release || "–"),
        fact(t("update.booted"), "update-booted", info.booted || "–")),
      h("table", { class: "table", id: "update-slots" }, h("thead", {}, h("tr", {},
        [t("update.slot"), t("update.slot_state"), t("update.boot_status"), t("update.slot_version"), t("update.slot_installed")]
          .map((x) => h("th", {}, x)))), h("tbody", {}, rows)),
      info.changelog ? h("details", { id: "update-changelog" }, h("summary", {}, t("update.changelog")),
        h("pre", { class: "mono" }, info.changelog)) : null,
      h("h3", {}, t("update.install")),
      h("p", { class: "muted" }, t("update.install_hint")),
      h("div", { class: "form-grid" },
        h("div", { class: "field" }, h("span", {}, t("update.file")), h("div", { class: "file-pick" },
          h("button", { type: "button", class: "small", onclick: () => file.click() }, icon("file"), t("library.choose_file")), fileName, file)),
        h("label", { class: "field" }, h("span", {}, "\u00a0"),
          h("button", { type: "button", class: "primary", id: "update-upload", disabled: busy, onclick: () => sendFile(file.files[0]) },
            icon("upload"), t("update.upload")))),
      urlRow(h("div", { class: "form-grid" },
        h("label", { class: "field" }, h("span", {}, t("update.url")), url),
        h("label", { class: "field" }, h("span", {}, "\u00a0"),
          h("button", { type: "button", id: "update-fetch", disabled: busy, onclick: () => fetchUrl(url.value.trim()) },
            icon("download"), t("update.fetch"))))),
      stateLine(info)));
  };

  const load = async () => {
    clearTimeout(timer);
    if (!box.isConnected && timer !== null) return; // the page was left
    try {
      const info = await get("/api/update");
      render(info);
      if (BUSY.includes(info.state)) timer = setTimeout(load, POLL_MS);
    } catch (err) {
      failed(err);
    }
  };

  const sendFile = async (file) => {
    if (!file) { toast(t("update.choose"), "alarm"); return; }
    sending = { name: file.name, part: 0 };
    for (const button of box.querySelectorAll("#update-upload, #update-fetch")) button.disabled = true;
    showState();
    try {
      await upload(file, (part) => {
        sending.part = part;
        showState();
      });
    } catch (err) {
      failed(err);
    } finally {
      sending = null;
      load();
    }
  };

  const fetchUrl = async (address) => {
    if (!address) { toast(t("update.url_missing"), "alarm"); return; }
    const button = box.querySelector("#update-fetch");
    if (button) button.disabled = true;
    const state = box.querySelector("#update-state");
    if (state) clear(state, h("p", {}, t("update.fetching")));
    try {
      await api("POST", "/api/update/url", { url: address });
    } catch (err) {
      failed(err);
    }
    load();
  };

  async function reboot() {
    if (!(await confirmDialog({ title: t("update.reboot_title"), text: t("update.reboot_text"),
      confirm: t("update.reboot"), cancel: t("common.cancel"), danger: true }))) return;
    try {
      await api("POST", "/api/update/reboot");
      const state = box.querySelector("#update-state");
      if (state) clear(state, h("p", { id: "update-restarting" }, h("b", {}, t("update.restarting"))));
    } catch (err) {
      failed(err);
    }
  }

  load();
}
