// Flipping a manual-control switch: choose, confirm (the customer's "two clicks").
import { api } from "./api.js";
import { confirmDialog, toast } from "./dom.js";
import { lang, t } from "./i18n.js";
import { failed } from "./refusals.js";

export function switchLabel(sw) {
  return lang() === "en" ? sw.label_en || sw.label : sw.label;
}

export async function flipSwitch(sw, turnOn) {
  const label = switchLabel(sw);
  const ok = await confirmDialog({
    title: t(turnOn ? "control.confirm_on_title" : "control.confirm_off_title", { label }),
    text: t(turnOn ? "control.confirm_on_text" : "control.confirm_off_text", { label }),
    confirm: t(turnOn ? "control.turn_on" : "control.turn_off"),
    cancel: t("common.cancel"),
    danger: turnOn,
  });
  if (!ok) return;
  try {
    await api("PUT", `/api/switches/${encodeURIComponent(sw.id)}`, { on: turnOn });
  } catch (err) {
    failed(err);
  }
}
