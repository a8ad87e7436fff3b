// The box's checks answer in English (docs/modes.md, "Checks"); the page says the same in the
// reader's language. Unknown messages are shown as the box wrote them.
import { t } from "./i18n.js";

const FIELDS = ["prompt", "team", "choices", "hold", "seconds", "music", "announcement", "replaces", "node", "start",
  "name", "label", "id", "next", "timeout", "retries", "max_wait", "max_seconds", "silence_seconds", "email", "numbers", "otherwise", "rules"];

function fieldName(path) {
  const parts = (path || "").split(".").filter((p) => !/^\d+$/.test(p));
  const last = parts[parts.length - 1];
  return FIELDS.includes(last) ? t(`field.${last}`) : last || "?";
}

const RULES = [
  [/^target node '(.+)' does not exist$/, (m) => t("problem.target_missing", { target: m[1] })],
  [/^start node '(.+)' does not exist$/, (m) => t("problem.start_missing", { target: m[1] })],
  [/^prompt '(.+)' is missing$/, (m) => t("problem.prompt_missing", { prompt: m[1] })],
  [/^team '(.+)' is not configured$/, (m) => t("problem.team_missing", { team: m[1] })],
  [/^node is not reachable from the start$/, () => t("problem.unreachable")],
  [/^loop without an exit/, () => t("problem.loop")],
  [/^digit (.+) has no target node$/, (m) => t("problem.digit_no_target", { digit: m[1] })],
  [/^key (.+) has no target node$/, (m) => t("problem.key_no_target", { digit: m[1] })],
  [/^a hold sequence needs at least one announcement or music step/, () => t("problem.hold_needs_step")],
  [/^a menu needs at least one choice$/, () => t("problem.menu_no_choice")],
  [/^a music step needs 'seconds'$/, () => t("problem.music_seconds")],
  [/^node '(.+)' does not exist$/, (m) => t("problem.node_missing", { node: m[1] })],
  [/^node '(.+)' is not an announcement$/, (m) => t("problem.not_announcement", { node: m[1] })],
  [/^only one switch can be on the front-panel button$/, () => t("problem.one_front_panel")],
  [/^switch '(.+)' appears twice$/, (m) => t("problem.switch_twice", { id: m[1] })],
  [/^'on_max_wait' needs 'max_wait'$/, () => t("problem.max_wait_needed")],
  [/^'numbers' belongs to/, () => t("problem.rule_numbers")],
  [/^'schedule: open\|closed\|holiday' belongs to/, () => t("problem.rule_schedule")],
  [/^a number has digits, \+ and the wildcards/, () => t("refusal.caller_number_chars")],
  [/^\* may only end a number/, () => t("refusal.caller_number_wildcard")],
  [/^a number needs at least one digit$/, () => t("refusal.caller_number_no_digit")],
  [/^a number must not contain control characters$/, () => t("refusal.caller_number_control")],
  [/^Field required$/, (_m, p) => t("problem.required", { field: fieldName(p.path) })],
  [/^List should have at least 1 item/, (_m, p) => t("problem.empty_list", { field: fieldName(p.path) })],
  [/^Input should be a valid (string|number|integer)/, (_m, p) => t("problem.required", { field: fieldName(p.path) })],
  [/^String should match pattern/, (_m, p) => t("problem.bad_name", { field: fieldName(p.path) })],
  [/^Input should be (less|greater)/, (_m, p) => t("problem.out_of_range", { field: fieldName(p.path), detail: p.message })],
];

export function problemText(problem) {
  for (const [re, say] of RULES) {
    const m = problem.message.match(re);
    if (m) return say(m, problem);
  }
  return problem.message;
}
