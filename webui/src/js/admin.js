// Administration (admins): accounts of the web page and agent definitions.
import { api, get } from "./api.js";
import { clear, confirmDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { live } from "./live.js";

export function mount(main) {
  const usersBox = h("section", { class: "card", id: "users" });
  const agentsBox = h("section", { class: "card", id: "agents" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("admin.title")), h("p", {}, t("admin.subtitle")))),
    h("div", { class: "stack" }, usersBox, agentsBox));
  let agents = [];

  const failed = (err) => toast(t("common.failed", { error: err.message }), "alarm");
  const field = (label, input) => h("label", { class: "field" }, h("span", {}, label), input);

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
        load();
      } catch (err) {
        failed(err);
      }
    };
    const edit = (u) => {
      name.value = u.name;
      display.value = u.display_name;
      role.value = u.role;
      agent.value = u.agent_id || "";
      password.value = "";
      password.placeholder = t("admin.password_keep");
      name.focus();
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
        h("h3", {}, t("admin.user_form")),
        h("div", { class: "form-grid" },
          field(t("admin.name"), name), field(t("admin.display"), display), field(t("admin.role"), role),
          field(t("admin.agent"), agent), field(t("admin.password"), password),
          h("label", { class: "field" }, h("span", {}, "\u00a0"), h("button", { type: "button", class: "primary", id: "save-user", onclick: save }, t("common.save"))))));
  };

  const renderAgents = () => {
    const id = h("input", { id: "new-agent-id", autocomplete: "off", placeholder: "anna" });
    const name = h("input", { id: "new-agent-name", autocomplete: "off" });
    const number = h("input", { id: "new-agent-number", type: "tel", autocomplete: "off" });
    const teams = live.me.teams.map((team) => h("label", { class: "check" }, h("input", { type: "checkbox", value: team.id }), team.name));
    const save = async () => {
      try {
        await api("PUT", `/api/agents/${encodeURIComponent(id.value.trim())}`, {
          name: name.value.trim() || id.value.trim(), default_number: number.value.trim(),
          teams: teams.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
        });
        toast(t("admin.saved"));
        load();
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
        h("thead", {}, h("tr", {}, [t("admin.agent_id"), t("admin.display"), t("admin.teams"), t("admin.number"), t("admin.state"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, agents.map((a) => h("tr", { "data-agent": a.id },
          h("td", { class: "mono" }, a.id), h("td", {}, a.name), h("td", {}, a.teams.map(teamName).join(", ")),
          h("td", {}, a.number || a.default_number || "–"), h("td", {}, t(`state.${a.state}`)),
          h("td", { class: "nowrap" },
            h("button", { type: "button", class: "small ghost", onclick: () => edit(a) }, t("common.edit")),
            h("button", { type: "button", class: "small ghost", onclick: () => remove(a) }, icon("trash"))))))),
      h("div", { class: "card-body" },
        h("h3", {}, t("admin.agent_form")),
        h("div", { class: "form-grid" }, field(t("admin.agent_id"), id), field(t("admin.display"), name), field(t("admin.number"), number)),
        h("div", { class: "team-picks" }, teams),
        h("button", { type: "button", class: "primary", id: "save-agent", onclick: save }, t("common.save"))));
  };

  const load = async () => {
    let users;
    try {
      [users, agents] = await Promise.all([get("/api/users"), get("/api/agents")]);
    } catch (err) {
      failed(err);
      return;
    }
    renderUsers(users);
    renderAgents();
  };
  load();
}
