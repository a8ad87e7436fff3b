// Administration of the appliance itself (admins): the page's HTTPS certificate (the box's
// local CA to install on PCs, or the office's own certificate) and the last faults from the
// journal (docs/https.md, systemd/README.md), and firmware updates (updates.js, docs/updates.md).
import { api, get } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { failed } from "./refusals.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { mountUpdates } from "./updates.js";

export function mountAppliance(stack) {
  const tlsBox = h("section", { class: "card", id: "tls" });
  const faultsBox = h("section", { class: "card", id: "faults" });
  stack.append(tlsBox, faultsBox);
  mountUpdates(stack);
  const field = (label, input) => h("label", { class: "field" }, h("span", {}, label), input);

  // ACME (http.tls.acme, docs/https.md): the office's domain, when the certificate is renewed,
  // and why the last order failed (the CA's or the DNS server's own words after the reason)
  const when = (iso) => (iso ? `${iso.slice(0, 16).replace("T", " ")} UTC` : "–");
  const acmeFacts = (a) => h("dl", { class: "facts", id: "acme-state", "data-error": a.error_code || "" },
    h("dt", {}, t("appliance.acme_domain")), h("dd", {}, a.domain),
    h("dt", {}, t("appliance.acme_challenge")), h("dd", {}, t(`appliance.acme_challenge_${a.challenge}`)),
    h("dt", {}, t("appliance.acme_renew")), h("dd", {}, a.renew_at ? when(a.renew_at) : t("appliance.acme_none_yet")),
    a.error_code ? [
      h("dt", {}, t("appliance.acme_error")),
      h("dd", { id: "acme-error" }, t(`appliance.acme_error_${a.error_code}`), h("br"), h("span", { class: "mono muted" }, a.error)),
      h("dt", {}, t("appliance.acme_next")), h("dd", {}, when(a.next_try)),
    ] : [h("dt", {}, t("appliance.acme_error")), h("dd", { id: "acme-error" }, t("appliance.acme_ok"))]);

  const renderTls = (s) => {
    const head = h("div", { class: "card-head" }, h("h2", {}, t("appliance.tls")), h("span", { class: "muted" }, t("appliance.tls_hint")));
    if (!s.enabled) { clear(tlsBox, head, h("div", { class: "card-body" }, h("p", {}, t("appliance.tls_off")))); return; }
    const cert = h("textarea", { id: "tls-cert", rows: 4, placeholder: "-----BEGIN CERTIFICATE-----" });
    const key = h("textarea", { id: "tls-key", rows: 4, placeholder: "-----BEGIN PRIVATE KEY-----" });
    const upload = async () => {
      try {
        const r = await api("PUT", "/api/tls/certificate", { certificate: cert.value, key: key.value });
        toast((r.warnings || []).join(" ") || t("appliance.tls_uploaded"), r.warnings?.length ? "warn" : undefined);
        loadTls();
      } catch (err) {
        failed(err);
      }
    };
    const back = async () => {
      try {
        await api("DELETE", "/api/tls/certificate");
        loadTls();
      } catch (err) {
        failed(err);
      }
    };
    clear(tlsBox, head, h("div", { class: "card-body" },
      h("dl", { class: "facts", id: "tls-state", "data-source": s.source },
        h("dt", {}, t("appliance.tls_source")), h("dd", {}, t(`appliance.tls_source_${s.source}`)),
        h("dt", {}, t("appliance.tls_names")), h("dd", {}, [...s.names, ...s.addresses].join(", ")),
        h("dt", {}, t("appliance.tls_until")), h("dd", {}, (s.not_after || "").slice(0, 10)),
        h("dt", {}, t("appliance.ca_fingerprint")), h("dd", { class: "mono", id: "ca-fingerprint" }, s.ca_fingerprint)),
      s.acme ? acmeFacts(s.acme) : null,
      h("p", {}, h("a", { class: "button", href: "/zentrale-ca.crt", download: "zentrale-ca.crt", id: "ca-download" },
        icon("download"), t("appliance.ca_download")), " ", h("span", { class: "muted" }, t("appliance.ca_install"))),
      h("h3", {}, t("appliance.tls_own")),
      field(t("appliance.tls_cert"), cert), field(t("appliance.tls_key"), key),
      h("div", { class: "row-buttons" },
        h("button", { type: "button", class: "primary", id: "tls-upload", onclick: upload }, t("appliance.tls_upload")),
        s.source === "upload" ? h("button", { type: "button", id: "tls-local", onclick: back }, t("appliance.tls_back")) : null)));
  };

  const renderFaults = (r) => {
    const rows = r.faults.map((f) => h("tr", { "data-level": f.level },
      h("td", { class: "mono" }, f.time.slice(0, 19).replace("T", " ")), h("td", {}, f.level), h("td", {}, f.message)));
    clear(faultsBox,
      h("div", { class: "card-head" }, h("h2", {}, t("appliance.faults")),
        h("span", { class: "muted" }, t(r.source === "journal" ? "appliance.faults_journal" : "appliance.faults_daemon"))),
      h("div", { class: "card-body" }, rows.length
        ? h("table", { class: "table", id: "faults-table" }, h("thead", {}, h("tr", {},
          h("th", {}, t("appliance.faults_time")), h("th", {}, t("appliance.faults_level")), h("th", {}, t("appliance.faults_message")))),
          h("tbody", {}, rows))
        : h("p", { class: "muted" }, t("appliance.faults_none")),
      h("p", {}, h("a", { href: "/api/backup?include_faults=true" }, icon("download"), t("appliance.backup_with_faults")))));
  };

  const loadTls = () => get("/api/tls").then(renderTls).catch(failed);
  const loadFaults = () => get("/api/faults?limit=50").then(renderFaults).catch(failed);
  loadTls();
  loadFaults();
}
