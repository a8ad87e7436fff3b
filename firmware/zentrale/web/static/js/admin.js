// Administration (admins): accounts of the web page, agent definitions, the PBX registration, e-mail
// settings, backup and restore, the phonebook (phonebook.js).
import { api, get, send } from "./api.js";
import { clear, confirmDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { live } from "./live.js";
import { mountAppliance } from "./appliance.js";
import { mountWallboardTokens } from "./wallboard_admin.js";
import { numberChoices, numbersText } from "./numbers.js";
import { mountPhonebook } from "./phonebook.js";
import { failed } from "./refusals.js";

export function mount(main) {
  const usersBox = h("section", { class: "card", id: "users" });
  const agentsBox = h("section", { class: "card", id: "agents" });
  const mailBox = h("section", { class: "card", id: "mail-settings" });
  const pbxBox = h("section", { class: "card", id: "pbx-settings" });
  const backupBox = h("section", { class: "card", id: "backup" });
  const teamsBox = h("section", { class: "card", id: "teams" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("admin.title")), h("p", {}, t("admin.subtitle")))),
    h("div", { class: "stack", id: "admin-stack" }, usersBox, agentsBox, teamsBox, pbxBox, mailBox, backupBox));
  mountPhonebook(main.querySelector("#admin-stack"));
  mountAppliance(main.querySelector("#admin-stack"));
  mountWallboardTokens(main.querySelector("#admin-stack"));
  let agents = [];
  let pins = { number: null, agents_with_pin: [] }; // the feature codes (GET /api/desk-phone)
  let editing = null; // the account being edited (its user name), across reloads of the list

    const field = (label, input) => h("label", { class: "field" }, h("span", {}, label), input);
    const fieldHint = (label, input, hint) => h("label", { class: "field" }, h("span", {}, label), input, h("small", { class: "hint" }, hint));

  const renderUsers = (users) => {
    const name = h("input", { id: "new-user-name", autocomplete: "off", placeholder: "anna" });
    const display = h("input", { id: "new-user-display", autocomplete: "off" });
    const role = h("select", { id: "new-user-role" }, ["agent", "admin"].map((r) => h("option", { value: r }, t(`role.${r}`))));
    const agent = h("select", { id: "new-user-agent" }, h("option", { value: "" }, "–"), agents.map((a) => h("option", { value: a.id }, `${a.name} (${a.id})`)));
    const password = h("input", { id: "new-user-password", type: "password", autocomplete: "new-password" });
    const save = async () => {
      try {
        await api("PUT", `/api/users/${encodeURIComponent(name.value.trim().toLowerCase())}`, {
          role: role.value, display_name: display.value, agent_id: agent.value || null, password: password.value || null,
        });
        toast(t("admin.saved"));
        editing = null;
        load();
      } catch (err) {
        failed(err);
      }
    };
    // editing an account: its user name stays (it is the login), Abbrechen goes back to "new"
    const title = h("h3", { id: "user-form-title" });
    const cancel = h("button", { type: "button", id: "cancel-user", hidden: true, onclick: () => { editing = null; reset(); } }, t("common.cancel"));
    const reset = () => {
      for (const el of [name, display, password]) el.value = "";
      role.value = "agent";
      agent.value = "";
      name.disabled = false;
      password.placeholder = "";
      title.textContent = t("admin.user_form");
      cancel.hidden = true;
    };
    const edit = (u) => {
      editing = u.name;
      name.value = u.name;
      name.disabled = true;
      display.value = u.display_name;
      role.value = u.role;
      agent.value = u.agent_id || "";
      password.value = "";
      password.placeholder = t("admin.password_keep");
      title.textContent = t("admin.user_edit", { name: u.name });
      cancel.hidden = false;
      display.focus();
    };
    const remove = async (u) => {
      if (!(await confirmDialog({ title: t("admin.delete_user", { name: u.name }), text: t("admin.delete_user_text"),
        confirm: t("common.delete"), cancel: t("common.cancel"), danger: true }))) return;
      try {
        await api("DELETE", `/api/users/${encodeURIComponent(u.name)}`);
        load();
      } catch (err) {
        failed(err);
      }
    };
    clear(usersBox,
      h("div", { class: "card-head" }, h("h2", {}, t("admin.users")), h("span", { class: "muted" }, t("admin.users_hint"))),
      h("table", { class: "list" },
        h("thead", {}, h("tr", {}, [t("admin.name"), t("admin.display"), t("admin.role"), t("admin.agent"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, users.map((u) => h("tr", { "data-user": u.name },
          h("td", { class: "mono" }, u.name), h("td", {}, u.display_name), h("td", {}, t(`role.${u.role}`)), h("td", {}, u.agent_id || "–"),
          h("td", { class: "nowrap" },
            h("button", { type: "button", class: "small ghost", onclick: () => edit(u) }, t("common.edit")),
            u.name !== live.me.name ? h("button", { type: "button", class: "small ghost", onclick: () => remove(u) }, icon("trash")) : null))))),
      h("div", { class: "card-body" },
        title,
        h("div", { class: "form-grid" },
          field(t("admin.name"), name), field(t("admin.display"), display), field(t("admin.role"), role),
          field(t("admin.agent"), agent), field(t("admin.password"), password),
          h("div", { class: "field row-buttons form-actions" }, cancel, h("button", { type: "button", class: "primary", id: "save-user", onclick: save }, t("common.save"))))));
    const current = users.find((u) => u.name === editing);
    if (current) edit(current); else reset();
  };

  const renderAgents = () => {
    const id = h("input", { id: "new-agent-id", autocomplete: "off", placeholder: "anna" });
    const name = h("input", { id: "new-agent-name", autocomplete: "off" });
    const number = h("input", { id: "new-agent-number", type: "tel", autocomplete: "off" });
    const teams = live.me.teams.map((team) => h("label", { class: "check" }, h("input", { type: "checkbox", value: team.id }), team.name));
    const pin = h("input", { id: "new-agent-pin", inputmode: "numeric", autocomplete: "off", maxlength: 12, placeholder: "4711" });
    // an agent and the account to log in with, in one go (the account's name is the agent's id)
    const withAccount = h("input", { type: "checkbox", id: "new-agent-account" });
    const accountPassword = h("input", { id: "new-agent-password", type: "password", autocomplete: "new-password" });
    const save = async () => {
      const agentId = id.value.trim();
      try {
        await api("PUT", `/api/agents/${encodeURIComponent(agentId)}`, {
          name: name.value.trim() || agentId, default_number: number.value.trim(),
          teams: teams.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
        });
        if (pin.value.trim()) await api("PUT", `/api/agents/${encodeURIComponent(agentId)}/pin`, { pin: pin.value.trim() });
        if (withAccount.checked) {
          await api("PUT", `/api/users/${encodeURIComponent(agentId.toLowerCase())}`, {
            role: "agent", display_name: name.value.trim() || agentId, agent_id: agentId, password: accountPassword.value || null,
          });
        }
        pin.value = "";
        accountPassword.value = "";
        withAccount.checked = false;
        toast(t("admin.saved"));
        load();
        loadTeams(); // its members
      } catch (err) {
        failed(err);
      }
    };
    const edit = (a) => {
      id.value = a.id;
      name.value = a.name;
      number.value = a.default_number;
      for (const l of teams) { const input = l.querySelector("input"); input.checked = a.teams.includes(input.value); }
      id.focus();
    };
    const remove = async (a) => {
      if (!(await confirmDialog({ title: t("admin.delete_agent", { name: a.name }), text: t("admin.delete_agent_text"),
        confirm: t("common.delete"), cancel: t("common.cancel"), danger: true }))) return;
      try {
        await api("DELETE", `/api/agents/${encodeURIComponent(a.id)}`);
        load();
      } catch (err) {
        failed(err);
      }
    };
    const teamName = (x) => live.me.teams.find((team) => team.id === x)?.name || x;
    clear(agentsBox,
      h("div", { class: "card-head" }, h("h2", {}, t("admin.agents")), h("span", { class: "muted" }, t("admin.agents_hint"))),
      h("table", { class: "list" },
        h("thead", {}, h("tr", {}, [t("admin.agent_id"), t("admin.display"), t("admin.teams"), t("admin.number"), t("admin.state"), t("admin.pin"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, agents.map((a) => h("tr", { "data-agent": a.id },
          h("td", { class: "mono" }, a.id), h("td", {}, a.name), h("td", {}, a.teams.map(teamName).join(", ")),
          h("td", {}, a.number || a.default_number || "–"), h("td", {}, t(`state.${a.state}`)),
          h("td", {}, pins.agents_with_pin.includes(a.id) ? t("admin.pin_set") : "–"),
          h("td", { class: "nowrap" },
            h("button", { type: "button", class: "small ghost", onclick: () => edit(a) }, t("common.edit")),
            h("button", { type: "button", class: "small ghost", onclick: () => remove(a) }, icon("trash"))))))),
      h("div", { class: "card-body" },
        h("h3", {}, t("admin.agent_form")),
        h("div", { class: "form-grid" }, field(t("admin.agent_id"), id), field(t("admin.display"), name), field(t("admin.number"), number),
          fieldHint(t("admin.pin"), pin, t(pins.number ? "admin.pin_hint" : "admin.pin_off", { number: pins.number || "" }))),
        h("div", { class: "team-picks" }, teams),
        h("div", { class: "form-grid" },
          h("label", { class: "check" }, withAccount, t("admin.agent_account")),
          field(t("admin.password"), accountPassword)),
        h("button", { type: "button", class: "primary", id: "save-agent", onclick: save }, t("common.save"))));
  };

  // E-mail: the SMTP server, the sender, and each team's distribution list for messages.
  const renderMail = (m) => {
    const input = (id, value, attrs = {}) => h("input", { id, value: value ?? "", autocomplete: "off", ...attrs });
    const host = input("mail-host", m.host, { placeholder: "smtp.example.com" });
    const port = input("mail-port", m.port, { type: "number", min: 1, max: 65535, placeholder: t("mail.port_default") });
    const security = h("select", { id: "mail-security" },
      ["starttls", "tls", "none"].map((x) => h("option", { value: x, selected: m.security === x }, t(`mail.security_${x}`))));
    const user = input("mail-user", m.user);
    const password = input("mail-password", "", { type: "password", autocomplete: "new-password",
      placeholder: m.password_set ? t("admin.password_keep") : "" });
    const sender = input("mail-sender", m.sender, { type: "email", placeholder: "hotline@example.com" });
    const senderName = input("mail-sender-name", m.sender_name);
    const link = input("mail-viewer-url", m.viewer_url, { placeholder: window.location.origin });
    const language = h("select", { id: "mail-language" },
      h("option", { value: "" }, t("mail.language_box")),
      ["de", "en"].map((x) => h("option", { value: x, selected: m.language === x }, x === "de" ? "Deutsch" : "English")));
    const attach = input("mail-max-attachment", m.max_attachment_kb, { type: "number", min: 0, max: 100000 });
    const testTo = input("mail-test-to", "", { type: "email", placeholder: "chef@example.com" });
    const save = async () => {
      try {
        await api("PUT", "/api/settings/mail", {
          host: host.value.trim() || null, port: port.value ? Number(port.value) : null, security: security.value,
          user: user.value.trim() || null, password: password.value ? password.value : null,
          sender: sender.value.trim() || null, sender_name: senderName.value.trim() || "Zentrale",
          viewer_url: link.value.trim() || null, language: language.value || null,
          max_attachment_kb: attach.value === "" ? 5000 : Number(attach.value),
        });
        toast(t("admin.saved"));
        loadMail();
      } catch (err) {
        failed(err);
      }
    };
    const test = async () => {
      try {
        await api("POST", "/api/settings/mail/test", { to: testTo.value.trim() });
        toast(t("mail.test_sent", { to: testTo.value.trim() }));
      } catch (err) {
        toast(t("mail.test_failed", { error: err.message }), "alarm");
      }
    };
    const teamRows = m.teams.map((team) => {
      const list = h("input", { value: team.email.join(", "), "data-team": team.id, autocomplete: "off",
        placeholder: "team@example.com, chef@example.com" });
      const saveList = async () => {
        try {
          const addresses = list.value.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
          await api("PUT", `/api/settings/mail/teams/${encodeURIComponent(team.id)}`, { addresses });
          toast(t("admin.saved"));
          loadMail();
        } catch (err) {
          failed(err);
        }
      };
      return h("tr", { "data-team": team.id }, h("td", {}, team.name), h("td", { class: "grow" }, list),
        h("td", { class: "nowrap" }, h("button", { type: "button", class: "small", onclick: saveList }, t("common.save"))));
    });
    clear(mailBox,
      h("div", { class: "card-head" }, h("h2", {}, t("mail.title")),
        h("span", { class: m.enabled ? "pill go" : "pill", id: "mail-state" }, m.enabled ? t("mail.on") : t("mail.off"))),
      h("div", { class: "card-body" },
        h("p", { class: "muted" }, t("mail.hint")),
        h("div", { class: "form-grid" },
          field(t("mail.host"), host), field(t("mail.port"), port), field(t("mail.security"), security),
          field(t("mail.user"), user), field(t("admin.password"), password), field(t("mail.sender"), sender),
          field(t("mail.sender_name"), senderName), field(t("mail.viewer_url"), link), field(t("mail.language"), language),
          field(t("mail.max_attachment"), attach)),
        h("button", { type: "button", class: "primary", id: "save-mail", onclick: save }, t("common.save")),
        h("h3", {}, t("mail.test")),
        h("div", { class: "form-grid" }, field(t("mail.test_to"), testTo),
          h("label", { class: "field" }, h("span", {}, "\u00a0"),
            h("button", { type: "button", id: "send-test-mail", onclick: test, disabled: !m.enabled }, t("mail.test_send")))),
        h("h3", {}, t("mail.lists")),
        h("p", { class: "muted" }, t("mail.lists_hint")),
        h("table", { class: "list", id: "mail-lists" }, h("tbody", {}, teamRows))));
  };

  // Teams (Fachgruppen): how their calls reach agents, and which numbers their agents may use.
  const renderTeams = (list) => {
    const input = (id, attrs = {}) => h("input", { id, autocomplete: "off", ...attrs });
    const id = input("team-id", { placeholder: "hw" });
    const name = input("team-name", { placeholder: "Hardware" });
    const distribution = h("select", { id: "team-distribution" },
      ["pull", "auto"].map((x) => h("option", { value: x }, t(`teams.distribution_${x}`))));
    const strategy = h("select", { id: "team-strategy" },
      ["longest_idle", "round_robin", "linear", "ring_all"].map((x) => h("option", { value: x }, t(`teams.strategy_${x}`))));
    const ring = input("team-ring", { type: "number", min: 1, max: 120, value: 20 });
    const wrap = input("team-wrap", { type: "number", min: 0, max: 600, value: 10 });
    const numbers = numberChoices();
    // callbacks (a "callback" node in a mode): who is called first, how often, which numbers
    const cbOrder = h("select", { id: "team-callback-order" },
      ["agent_first", "caller_first"].map((x) => h("option", { value: x }, t(`teams.callback_${x}`))));
    const cbAttempts = input("team-callback-attempts", { type: "number", min: 1, max: 10, value: 3 });
    const cbInterval = input("team-callback-interval", { type: "number", min: 1, max: 1440, value: 5 });
    const cbRing = input("team-callback-ring", { type: "number", min: 1, max: 120, value: 30 });
    const cbNumbers = input("team-callback-numbers", { placeholder: t("teams.callback_numbers_default"), spellcheck: "false" });
    let email = [];
    const save = async () => {
      try {
        const cbPatterns = cbNumbers.value.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
        await api("PUT", `/api/teams/${encodeURIComponent(id.value.trim())}`, {
          name: name.value.trim(), distribution: distribution.value, strategy: strategy.value,
          ring_timeout: Number(ring.value || 20), wrap_up: Number(wrap.value || 0),
          allowed_numbers: numbers.value(), email,
          callback_order: cbOrder.value, callback_attempts: Number(cbAttempts.value || 3),
          callback_interval: Math.round(Number(cbInterval.value || 5) * 60), callback_ring_timeout: Number(cbRing.value || 30),
          callback_numbers: cbPatterns.length ? cbPatterns : null,
        });
        toast(t("admin.saved"));
        loadTeams();
        live.me.teams = (await get("/api/auth/me")).teams; // the agents' team choice and the filters
        renderAgents();
      } catch (err) {
        failed(err);
      }
    };
    const edit = (team) => {
      id.value = team.id;
      name.value = team.name;
      distribution.value = team.distribution;
      strategy.value = team.strategy;
      ring.value = team.ring_timeout;
      wrap.value = team.wrap_up;
      numbers.set(team.allowed_numbers);
      email = team.email || [];
      cbOrder.value = team.callback_order || "agent_first";
      cbAttempts.value = team.callback_attempts ?? 3;
      cbInterval.value = Math.round((team.callback_interval ?? 300) / 6) / 10; // minutes, one decimal
      cbRing.value = team.callback_ring_timeout ?? 30;
      cbNumbers.value = (team.callback_numbers || []).join(", ");
      name.focus();
    };
    const remove = async (team) => {
      if (!(await confirmDialog({ title: t("teams.delete", { name: team.name }), text: t("teams.delete_text"),
        confirm: t("common.delete"), cancel: t("common.cancel"), danger: true }))) return;
      try {
        await api("DELETE", `/api/teams/${encodeURIComponent(team.id)}`);
        loadTeams();
      } catch (err) {
        failed(err);
      }
    };
    clear(teamsBox,
      h("div", { class: "card-head" }, h("h2", {}, t("teams.title")), h("span", { class: "muted" }, t("teams.hint"))),
      h("table", { class: "list" },
        h("thead", {}, h("tr", {}, [t("admin.agent_id"), t("admin.display"), t("teams.distribution"), t("teams.ring"),
          t("teams.numbers"), t("admin.agents"), t("teams.modes"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, list.map((team) => h("tr", { "data-team": team.id },
          h("td", { class: "mono" }, team.id), h("td", {}, team.name),
          h("td", {}, team.distribution === "auto" ? `${t("teams.distribution_auto")} · ${t(`teams.strategy_${team.strategy}`)}` : t("teams.distribution_pull")),
          h("td", {}, `${team.ring_timeout} s / ${team.wrap_up} s`),
          h("td", {}, numbersText(team.allowed_numbers)),
          h("td", {}, team.members.join(", ") || "–"), h("td", {}, team.modes.join(", ") || "–"),
          h("td", { class: "nowrap" },
            h("button", { type: "button", class: "small ghost", onclick: () => edit(team) }, t("common.edit")),
            h("button", { type: "button", class: "small ghost", onclick: () => remove(team) }, icon("trash"))))))),
      h("div", { class: "card-body" },
        h("h3", {}, t("teams.form")),
        h("div", { class: "form-grid" },
          field(t("admin.agent_id"), id), field(t("admin.display"), name), field(t("teams.distribution"), distribution),
          field(t("teams.strategy"), strategy), field(t("teams.ring_timeout"), ring), field(t("teams.wrap_up"), wrap),
          h("label", { class: "field" }, h("span", {}, "\u00a0"), h("button", { type: "button", class: "primary", id: "save-team", onclick: save }, t("common.save")))),
        numbers.el,
        h("details", { id: "team-callbacks" }, h("summary", {}, t("teams.callbacks")),
          h("p", { class: "muted" }, t("teams.callbacks_hint")),
          h("div", { class: "form-grid" },
            field(t("teams.callback_order"), cbOrder), field(t("teams.callback_attempts"), cbAttempts),
            field(t("teams.callback_interval"), cbInterval), field(t("teams.callback_ring"), cbRing),
            field(t("teams.callback_numbers"), cbNumbers)))));
  };

  const loadTeams = async () => {
    try {
      renderTeams((await get("/api/teams")).teams);
    } catch (err) {
      failed(err);
    }
  };

  // The PBX: the box registers as one of its extensions (FRITZ!Box, Asterisk, 3CX, a trunk).
  const renderPbx = (r) => {
    const input = (id, value, attrs = {}) => h("input", { id, value: value ?? "", autocomplete: "off", ...attrs });
    const registrar = input("pbx-registrar", r.registrar, { placeholder: "fritz.box" });
    const user = input("pbx-user", r.user, { placeholder: "620" });
    const password = input("pbx-password", "", { type: "password", autocomplete: "new-password",
      placeholder: r.password_set ? t("admin.password_keep") : "" });
    const authUser = input("pbx-auth-user", r.auth_user, { placeholder: t("pbx.same_as_user") });
    const domain = input("pbx-domain", r.domain, { placeholder: t("pbx.domain_default") });
    const transport = h("select", { id: "pbx-transport" },
      ["udp", "tcp", "tls"].map((x) => h("option", { value: x, selected: (r.transport || "udp") === x }, x.toUpperCase())));
    const proxy = input("pbx-proxy", r.outbound_proxy);
    const transfer = h("select", { id: "pbx-transfer" },
      ["bridge", "refer"].map((x) => h("option", { value: x, selected: (r.transfer || "bridge") === x }, t(`pbx.transfer_${x}`))));
    const st = r.status;
    const state = !r.enabled ? ["pill", t("pbx.off")]
      : st && st.registered ? ["pill go", t("pbx.registered")]
      : st && st.last_error ? ["pill alarm", t("pbx.failed", { error: st.last_error })]
      : ["pill warn", t("pbx.registering")];
    const save = async () => {
      try {
        await api("PUT", "/api/settings/sip/registration", {
          registrar: registrar.value.trim() || null, user: user.value.trim() || null,
          password: password.value ? password.value : null, auth_user: authUser.value.trim() || null,
          domain: domain.value.trim() || null, transport: transport.value, outbound_proxy: proxy.value.trim() || null,
          transfer: transfer.value, expires: r.expires || 300,
        });
        toast(t("admin.saved"));
        loadPbx();
        for (const ms of [1500, 4000, 10000]) setTimeout(loadPbx, ms);
      } catch (err) {
        failed(err);
      }
    };
    clear(pbxBox,
      h("div", { class: "card-head" }, h("h2", {}, t("pbx.title")), h("span", { class: state[0], id: "pbx-state" }, state[1])),
      h("div", { class: "card-body" },
        h("p", { class: "muted" }, t("pbx.hint")),
        h("div", { class: "form-grid" },
          field(t("pbx.registrar"), registrar), field(t("pbx.user"), user), field(t("admin.password"), password),
          field(t("pbx.auth_user"), authUser), field(t("pbx.domain"), domain), field(t("pbx.transport"), transport),
          field(t("pbx.proxy"), proxy), field(t("pbx.transfer"), transfer)),
        h("button", { type: "button", class: "primary", id: "save-pbx", onclick: save }, t("common.save"))));
  };

  const loadPbx = async () => {
    try {
      renderPbx(await get("/api/settings/sip"));
    } catch (err) {
      failed(err);
    }
  };

  // Backup: download one archive of everything; restoring one restarts the box with it.
  const renderBackup = () => {
    const file = h("input", { id: "restore-file", type: "file", hidden: true, accept: ".tar.gz,.tgz,application/gzip" });
    const fileName = h("span", { class: "file-name muted" }, t("library.no_file_chosen"));
    file.addEventListener("change", () => { fileName.textContent = file.files[0] ? file.files[0].name : t("library.no_file_chosen"); });
    const filePick = h("div", { class: "file-pick" },
      h("button", { type: "button", class: "small", onclick: () => file.click() }, icon("file"), t("library.choose_file")), fileName, file);
    const state = h("p", { class: "muted", id: "restore-state" });
    const waitForTheBox = async () => {
      let wentDown = false;
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        try {
          const r = await fetch("/health", { cache: "no-store" });
          if (r.ok && wentDown) { window.location.reload(); return; }
          if (!r.ok) wentDown = true;
        } catch {
          wentDown = true;
        }
      }
      clear(state, t("backup.not_back"));
    };
    const restore = async () => {
      const chosen = file.files[0];
      if (!chosen) { toast(t("backup.choose"), "alarm"); return; }
      if (!(await confirmDialog({ title: t("backup.confirm_title"), text: t("backup.confirm_text", { name: chosen.name }),
        confirm: t("backup.restore"), cancel: t("common.cancel"), danger: true }))) return;
      try {
        const r = await send("POST", "/api/backup/restore", chosen, "application/gzip");
        clear(state, t("backup.restarting", { at: (r.created_at || "").slice(0, 16).replace("T", " "), messages: r.counts.messages }));
        waitForTheBox();
      } catch (err) {
        failed(err);
      }
    };
    clear(backupBox,
      h("div", { class: "card-head" }, h("h2", {}, t("backup.title"))),
      h("div", { class: "card-body" },
        h("p", { class: "muted" }, t("backup.hint")),
        h("a", { class: "button primary", id: "download-backup", href: "/api/backup", download: "" }, icon("download"), t("backup.download")),
        h("h3", {}, t("backup.restore_title")),
        h("p", { class: "muted" }, t("backup.restore_hint")),
        h("div", { class: "form-grid" }, h("div", { class: "field" }, h("span", {}, t("backup.file")), filePick),
          h("label", { class: "field" }, h("span", {}, "\u00a0"),
            h("button", { type: "button", class: "alarm", id: "restore-backup", onclick: restore }, t("backup.restore")))),
        state));
  };

  const loadMail = async () => {
    try {
      renderMail(await get("/api/settings/mail"));
    } catch (err) {
      failed(err);
    }
  };

  const load = async () => {
    let users;
    try {
      [users, agents, pins] = await Promise.all([get("/api/users"), get("/api/agents"), get("/api/desk-phone")]);
    } catch (err) {
      failed(err);
      return;
    }
    renderUsers(users);
    renderAgents();
  };
  loadTeams();
  loadPbx();
  loadMail();
  renderBackup();
  load();
}
