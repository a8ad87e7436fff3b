// Zeitsteuerung (admins): a week plan of opening hours, German public holidays of a federal
// state and custom closed days choose the active mode; an admin's own choice overrides the plan
// until "back to the schedule". Shows the active and the scheduled mode, why, and the next change.
import { api, get } from "./api.js";
import { clear, field, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTimeIn, dayIn, lang, t } from "./i18n.js";
import { on } from "./live.js";
import { backToSchedule } from "./modes.js";
import { modeTabs, pageHead } from "./modetabs.js";
import { failed } from "./refusals.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const HHMM = /^([01]\d|2[0-4]):[0-5]\d$/;

export function mount(main) {
  const nowBox = h("section", { class: "card", id: "schedule-now" });
  const weekBox = h("section", { class: "card", id: "week" });
  const settingsBox = h("section", { class: "card", id: "schedule-settings" });
  const daysBox = h("section", { class: "card", id: "closed-days" });
  const saveBtn = h("button", { type: "button", class: "primary", id: "save-schedule" }, icon("save"), t("common.save"));
  const error = h("div", { class: "notice alarm", id: "schedule-error", role: "alert", hidden: true });
  main.append(
    modeTabs("schedule"),
    pageHead(t("schedule.title"), t("schedule.subtitle"), saveBtn),
    error,
    h("div", { class: "schedule-layout" },
      h("div", { class: "stack" }, nowBox, weekBox),
      h("div", { class: "stack" }, settingsBox, daysBox)));
  let status = null;
  let plan = null;
  let modes = [];

  const whyText = (s) => {
    if (!s.schedule.enabled) return t("schedule.why_off");
    if (s.why === "open") return t("schedule.why_open", { span: (s.detail || "").replace("-", "–") });
    if (s.why === "holiday") return t("schedule.why_holiday", { name: s.detail });
    if (s.why === "closed_day") return t("schedule.why_closed_day", { day: dayIn(s.detail) });
    return t("schedule.why_closed");
  };

  function renderNow() {
    const s = status;
    const tz = plan.timezone;
    const fact = (label, value, extra = {}) => h("div", { class: "fact", ...extra }, h("small", {}, label), h("b", {}, value));
    clear(nowBox,
      h("div", { class: "card-head" }, h("h2", {}, t("schedule.now")),
        h("span", { class: "muted small-text" }, t("schedule.box_time", { time: dateTimeIn(s.now, tz) }))),
      h("div", { class: "card-body" },
        h("div", { class: "facts" },
          fact(t("schedule.active"), s.active_mode || t("schedule.no_mode"), { id: "active-mode" }),
          fact(t("schedule.scheduled"), s.scheduled_mode || "–", { id: "scheduled-mode" }),
          s.next_change ? fact(t("schedule.next_change"), `${dateTimeIn(s.next_change.at, tz)} → ${s.next_change.mode}`,
            { id: "next-change", "data-at": s.next_change.at, "data-mode": s.next_change.mode })
            : fact(t("schedule.next_change"), s.schedule.enabled ? t("schedule.no_change") : "–", { id: "next-change" })),
        h("p", { class: "why", id: "schedule-why" }, icon("info"), whyText(s)),
        s.override ? h("div", { class: "notice warn", id: "override-notice" }, icon("alert"),
          h("div", { class: "grow" }, t("schedule.override", { mode: s.override })),
          h("button", { type: "button", id: "resume-schedule", onclick: async () => { const r = await backToSchedule(); if (r) { status = r; renderNow(); } } },
            icon("calendar"), t("schedule.resume"))) : null));
  }

  function spanRow(day, i) {
    const span = plan.week[day][i];
    const input = (j) => {
      const el = h("input", { type: "text", class: "time", inputmode: "numeric", maxlength: "5", placeholder: j ? "17:00" : "08:00",
        value: span[j], "data-part": j ? "end" : "start", "aria-label": t(j ? "schedule.until" : "schedule.from") });
      el.addEventListener("input", () => { span[j] = el.value.trim(); el.classList.toggle("bad", !HHMM.test(span[j])); });
      return el;
    };
    return h("div", { class: "span", "data-index": String(i) }, input(0), h("span", { class: "dash" }, "–"), input(1),
      h("button", { type: "button", class: "small ghost", "data-action": "remove-span", title: t("schedule.remove_span"), "aria-label": t("schedule.remove_span"),
        onclick: () => { plan.week[day].splice(i, 1); renderWeek(); } }, icon("x")));
  }

  function renderWeek() {
    clear(weekBox,
      h("div", { class: "card-head" }, h("h2", {}, t("schedule.week")),
        h("button", { type: "button", class: "small ghost", id: "copy-monday", onclick: () => {
          for (const d of ["tue", "wed", "thu", "fri"]) plan.week[d] = plan.week.mon.map((s) => [...s]);
          renderWeek();
        } }, icon("copy"), t("schedule.copy_monday"))),
      h("div", { class: "card-body week" }, DAYS.map((day) => {
        plan.week[day] ||= [];
        const spans = plan.week[day];
        return h("div", { class: `day ${spans.length ? "" : "closed"}`, "data-day": day },
          h("b", { class: "day-name" }, t(`day.${day}`)),
          h("div", { class: "spans" }, spans.length ? spans.map((_s, i) => spanRow(day, i)) : h("span", { class: "muted" }, t("schedule.closed_all_day"))),
          h("button", { type: "button", class: "small", "data-action": "add-span", onclick: () => {
            const last = spans[spans.length - 1];
            spans.push(last ? [last[1] < "13:00" ? "13:00" : last[1], "17:00"] : ["08:00", "17:00"]);
            renderWeek();
          } }, icon("plus"), t("schedule.add_span")));
      })));
  }

  function modeSelect(id, value, optional) {
    const select = h("select", { id },
      optional ? h("option", { value: "", selected: !value }, t("schedule.holiday_as_closed")) : null,
      value && !modes.includes(value) ? h("option", { value, selected: true }, t("editor.target_missing_option", { name: value })) : null,
      modes.map((m) => h("option", { value: m, selected: m === value }, m)));
    return select;
  }

  function renderSettings() {
    const enabled = h("input", { type: "checkbox", id: "schedule-enabled", checked: plan.enabled });
    enabled.addEventListener("change", () => { plan.enabled = enabled.checked; });
    const open = modeSelect("open-mode", plan.open_mode, false);
    open.addEventListener("change", () => { plan.open_mode = open.value; });
    const closed = modeSelect("closed-mode", plan.closed_mode, false);
    closed.addEventListener("change", () => { plan.closed_mode = closed.value; });
    const holiday = modeSelect("holiday-mode", plan.holiday_mode, true);
    holiday.addEventListener("change", () => { plan.holiday_mode = holiday.value || null; });
    const state = h("select", { id: "federal-state" },
      h("option", { value: "", selected: !plan.holidays_state }, t("schedule.state_none")),
      status.federal_states.map((s) => h("option", { value: s.code, selected: s.code === plan.holidays_state }, `${s.name} (${s.code})`)));
    state.addEventListener("change", () => { plan.holidays_state = state.value || null; });
    const tz = h("input", { type: "text", id: "timezone", value: plan.timezone, autocomplete: "off" });
    tz.addEventListener("input", () => { plan.timezone = tz.value.trim(); });
    clear(settingsBox,
      h("div", { class: "card-head" }, h("h2", {}, t("schedule.settings"))),
      h("div", { class: "card-body" },
        h("label", { class: "check big-check" }, enabled, t("schedule.enabled")),
        h("p", { class: "muted small-text" }, t("schedule.enabled_hint")),
        field(t("schedule.open_mode"), open),
        field(t("schedule.closed_mode"), closed),
        field(t("schedule.holiday_mode"), holiday),
        field(t("schedule.state"), state, t("schedule.state_hint")),
        field(t("schedule.timezone"), tz)));
  }

  function renderDays() {
    const add = h("input", { type: "date", id: "closed-day-input" });
    const addBtn = h("button", { type: "button", class: "small", id: "add-closed-day", onclick: () => {
      if (!add.value || plan.closed_days.includes(add.value)) return;
      plan.closed_days.push(add.value);
      plan.closed_days.sort();
      renderDays();
    } }, icon("plus"), t("schedule.add_day"));
    clear(daysBox,
      h("div", { class: "card-head" }, h("h2", {}, t("schedule.days"))),
      h("div", { class: "card-body" },
        h("h3", {}, t("schedule.custom_days")),
        h("ul", { class: "day-list", id: "closed-day-list" }, plan.closed_days.length ? plan.closed_days.map((d, i) => h("li", { "data-day": d },
          icon("calendar"), h("span", { class: "grow" }, dayIn(d)),
          h("button", { type: "button", class: "small ghost", "aria-label": t("schedule.remove_day"), title: t("schedule.remove_day"),
            onclick: () => { plan.closed_days.splice(i, 1); renderDays(); } }, icon("x"))))
          : h("li", { class: "muted" }, t("schedule.no_days"))),
        h("div", { class: "row-buttons add-day" }, add, addBtn),
        h("h3", {}, t("schedule.upcoming")),
        h("ul", { class: "day-list", id: "upcoming-holidays" }, status.upcoming_holidays.length ? status.upcoming_holidays.map((x) => h("li", { "data-kind": x.kind },
          icon(x.kind === "holiday" ? "flag" : "calendar"), h("span", { class: "nowrap" }, dayIn(x.date)),
          h("span", { class: "muted" }, x.kind === "holiday" ? x.name : t("schedule.custom_day"))))
          : h("li", { class: "muted" }, t("schedule.no_upcoming")))));
  }

  function renderAll() {
    renderNow();
    renderWeek();
    renderSettings();
    renderDays();
  }

  async function load() {
    try {
      const [s, list] = await Promise.all([get(`/api/schedule?lang=${lang()}`), get("/api/modes")]);
      status = s;
      modes = list.modes;
      plan = structuredClone(s.schedule);
    } catch (err) {
      failed(err);
      return;
    }
    renderAll();
  }

  saveBtn.addEventListener("click", async () => {
    error.hidden = true;
    const bad = DAYS.flatMap((d) => plan.week[d].filter((s) => !HHMM.test(s[0]) || !HHMM.test(s[1])).map(() => t(`day.${d}`)));
    if (bad.length) { error.textContent = t("schedule.bad_time", { days: [...new Set(bad)].join(", ") }); error.hidden = false; return; }
    try {
      await api("PUT", "/api/schedule", plan);
      status = await get(`/api/schedule?lang=${lang()}`);
      plan = structuredClone(status.schedule);
      toast(t("schedule.saved"));
      renderAll();
    } catch (err) {
      error.textContent = t("schedule.refused", { error: err.message });
      error.hidden = false;
    }
  });

  load();
  // The box switches by itself at the next change (and an admin elsewhere may activate a mode):
  // the "now" card follows; the plan being edited stays as it is.
  const refreshNow = async () => {
    if (!plan) return;
    try {
      status = await get(`/api/schedule?lang=${lang()}`);
      renderNow();
    } catch {
      // the next refresh shows it
    }
  };
  const off = on("mode_activated", refreshNow);
  const timer = setInterval(refreshNow, 60000);
  return () => { off(); clearInterval(timer); };
}
