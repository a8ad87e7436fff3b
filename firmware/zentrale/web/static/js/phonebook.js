// Verwaltung -> Telefonbuch (admins): where caller names come from -- the FRITZ!Box and a CardDAV
// address book (set in the configuration file) and a CSV list uploaded here -- each source's
// state, a refresh now, and a look-up to check a number (firmware phonebook/, docs/phonebook.md).
import { api, get, send } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { failed } from "./refusals.js";
import { t } from "./i18n.js";

const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

export function mountPhonebook(stack) {
  const box = h("section", { class: "card", id: "phonebook" });
  stack.append(box);
  // made once: a reload of the card must not drop the file chosen or the number typed
  const file = h("input", { id: "phonebook-file", type: "file", accept: ".csv,.txt,text/csv" });
  const number = h("input", { id: "phonebook-number", autocomplete: "off", placeholder: "030 1234567" });
  const found = h("span", { id: "phonebook-found", class: "muted" });
  const input = (id, attrs = {}) => h("input", { id, autocomplete: "off", ...attrs });
  const f = {
    address: input("pb-fritz-address", { placeholder: "192.168.178.1" }),
    port: input("pb-fritz-port", { type: "number", min: 1, max: 65535, placeholder: "49000" }),
    user: input("pb-fritz-user"),
    password: input("pb-fritz-password", { type: "password", autocomplete: "new-password" }),
    url: input("pb-dav-url", { placeholder: "https://…/addressbooks/users/office/contacts/" }),
    davUser: input("pb-dav-user"),
    davPassword: input("pb-dav-password", { type: "password", autocomplete: "new-password" }),
  };
  const field = (label, el) => h("label", { class: "field" }, h("span", {}, label), el);
  const fill = (st) => {
    const box = st.fritzbox || {};
    const dav = st.carddav || {};
    f.address.value = box.address || ""; f.port.value = box.port || ""; f.user.value = box.user || "";
    f.password.value = ""; f.password.placeholder = box.password_set ? t("phonebook.password_kept") : "";
    f.url.value = dav.url || ""; f.davUser.value = dav.user || "";
    f.davPassword.value = ""; f.davPassword.placeholder = dav.password_set ? t("phonebook.password_kept") : "";
  };
  const saveSources = async () => {
    const fritzbox = f.address.value.trim() ? { address: f.address.value.trim(), user: f.user.value.trim(),
      password: f.password.value, ...(f.port.value ? { port: Number(f.port.value) } : {}) } : null;
    const carddav = f.url.value.trim() ? { url: f.url.value.trim(), user: f.davUser.value.trim() || null,
      password: f.davPassword.value } : null;
    try {
      render(await api("PUT", "/api/phonebook/settings", { fritzbox, carddav }));
      toast(t("phonebook.sources_saved"));
      get("/api/phonebook/settings").then(fill).catch(failed);
    } catch (err) {
      failed(err);
    }
  };
  const sourcesForm = h("div", { id: "phonebook-settings" },
    h("h3", {}, t("phonebook.sources")),
    h("p", { class: "muted" }, t("phonebook.sources_hint")),
    h("h4", {}, t("phonebook.source_fritzbox")),
    h("p", { class: "muted" }, t("phonebook.fritz_hint")),
    h("div", { class: "form-grid" },
      field(t("phonebook.fritz_address"), f.address), field(t("phonebook.fritz_port"), f.port),
      field(t("phonebook.user"), f.user), field(t("phonebook.password"), f.password)),
    h("h4", {}, t("phonebook.source_carddav")),
    h("div", { class: "form-grid" },
      field(t("phonebook.dav_url"), f.url), field(t("phonebook.user"), f.davUser), field(t("phonebook.password"), f.davPassword)),
    h("div", { class: "row-buttons" },
      h("button", { type: "button", class: "primary", id: "phonebook-save-sources", onclick: saveSources }, t("phonebook.save_sources"))));

  const render = (s) => {
    const rows = s.sources.map((src) => h("tr", { "data-source": src.source, "data-ok": String(src.ok) },
      h("td", {}, t(`phonebook.source_${src.source}`)),
      h("td", {}, !src.configured ? h("span", { class: "muted" }, t("phonebook.not_configured"))
        : src.ok ? t(src.checked_at || src.refreshed_at ? "phonebook.ok" : "phonebook.waiting")
          : h("span", { class: "error", id: `phonebook-error-${src.source}` }, src.error)),
      h("td", { class: "num" }, String(src.entries)),
      h("td", { class: "mono" }, when(src.refreshed_at)),
      h("td", {}, src.origin || "–")));
    const upload = async () => {
      if (!file.files[0]) { toast(t("phonebook.choose_file"), "warn"); return; }
      try {
        const name = encodeURIComponent(file.files[0].name);
        render(await send("PUT", `/api/phonebook/csv?filename=${name}`, file.files[0], "text/csv"));
        toast(t("phonebook.uploaded"));
      } catch (err) {
        failed(err);
      }
    };
    const act = (method, path) => async () => {
      try {
        render(await api(method, path));
      } catch (err) {
        failed(err);
      }
    };
    const csv = s.sources.find((src) => src.source === "csv");
    clear(box,
      h("div", { class: "card-head" }, h("h2", {}, t("phonebook.title")), h("span", { class: "muted" }, t("phonebook.hint"))),
      h("div", { class: "card-body" },
        h("p", { id: "phonebook-total" }, t("phonebook.total", { numbers: s.numbers, minutes: s.refresh_minutes })),
        h("table", { class: "table", id: "phonebook-sources" }, h("thead", {}, h("tr", {},
          h("th", {}, t("phonebook.source")), h("th", {}, t("phonebook.state")), h("th", {}, t("phonebook.entries")),
          h("th", {}, t("phonebook.refreshed")), h("th", {}, t("phonebook.origin")))), h("tbody", {}, rows)),
        h("p", { class: "muted" }, t("phonebook.config_hint")),
        h("div", { class: "row-buttons" },
          h("button", { type: "button", id: "phonebook-refresh", onclick: act("POST", "/api/phonebook/refresh") }, t("phonebook.refresh"))),
        sourcesForm,
        h("h3", {}, t("phonebook.csv")),
        h("p", { class: "muted" }, t("phonebook.csv_hint", { kb: s.max_csv_kb })),
        h("div", { class: "row-buttons" }, file,
          h("button", { type: "button", class: "primary", id: "phonebook-upload", onclick: upload }, t("phonebook.upload")),
          csv && csv.entries ? h("button", { type: "button", id: "phonebook-remove", onclick: act("DELETE", "/api/phonebook/csv") }, t("phonebook.remove")) : null),
        h("h3", {}, t("phonebook.lookup")),
        h("div", { class: "row-buttons" }, number,
          h("button", { type: "button", id: "phonebook-lookup", onclick: lookup }, t("phonebook.lookup_button")), found)));
  };

  const lookup = async () => {
    if (!number.value.trim()) return;
    try {
      const r = await get(`/api/phonebook/lookup?number=${encodeURIComponent(number.value.trim())}`);
      found.textContent = r.name ? `${r.key}: ${r.name}` : t("phonebook.unknown", { key: r.key });
    } catch (err) {
      failed(err);
    }
  };

  get("/api/phonebook").then(render).catch(failed);
  get("/api/phonebook/settings").then(fill).catch(failed);
}
