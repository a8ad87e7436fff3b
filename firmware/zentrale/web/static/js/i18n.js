// German and English texts. Every text of the page is in i18n/de.json and i18n/en.json
// (a test checks both have the same keys). The language is chosen per browser
// (localStorage), by default the box's configured language.
const dictionaries = {};
let current = "de";

export async function loadLanguages(defaultLang) {
  const [de, en] = await Promise.all(["de", "en"].map((l) => fetch(`/static/i18n/${l}.json`).then((r) => r.json())));
  dictionaries.de = de;
  dictionaries.en = en;
  const saved = localStorage.getItem("zentrale.lang");
  current = saved === "de" || saved === "en" ? saved : defaultLang === "en" ? "en" : "de";
  document.documentElement.lang = current;
}

export function lang() {
  return current;
}

export function setLang(value) {
  current = value === "en" ? "en" : "de";
  localStorage.setItem("zentrale.lang", current);
  document.documentElement.lang = current;
}

export function t(key, vars = {}) {
  let text = dictionaries[current]?.[key] ?? dictionaries.de?.[key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

// Fill elements marked data-i18n (text), data-i18n-placeholder, data-i18n-title, data-i18n-aria.
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
}

const locale = () => (current === "de" ? "de-DE" : "en-GB");

export function clockTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const today = new Date();
  const time = d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === today.toDateString()) return `${t("time.today")} ${time}`;
  return `${d.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit", year: "numeric" })} ${time}`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

// A number the reader's way: "10,3" in German, "10.3" in English (one style on every page).
export function decimal(n, digits = 1) {
  return Number(n).toLocaleString(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toLocaleString(locale(), { maximumFractionDigits: i > 2 ? 1 : 0 })} ${units[i]}`;
}

// A moment as the box's schedule sees it: in the schedule's time zone, not the browser's.
export function dateTimeIn(iso, timeZone, withWeekday = true) {
  if (!iso) return "–";
  const options = { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone };
  if (withWeekday) options.weekday = "short";
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

export function dayIn(isoDate, withWeekday = true) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const options = { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" };
  if (withWeekday) options.weekday = "short";
  return new Intl.DateTimeFormat(locale(), options).format(new Date(Date.UTC(y, m - 1, d)));
}

// The length of a prompt: "3,1 s" under a minute, else "2:05".
export function promptLength(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${Number(seconds).toLocaleString(locale(), { maximumFractionDigits: seconds < 10 ? 1 : 0 })} s`;
  return duration(seconds);
}
