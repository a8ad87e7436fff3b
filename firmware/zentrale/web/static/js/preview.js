// Listening to a prompt from the library: one player for the whole page, so starting one
// prompt stops the other. The audio comes from /api/prompts/{name}/audio.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

const player = new Audio();
player.preload = "none";
let playing = null; // the prompt name
const buttons = new Set();

export function promptUrl(name) {
  return `/api/prompts/${encodeURIComponent(name)}/audio`;
}

function update() {
  for (const b of [...buttons]) {
    if (!b.isConnected) {
      if (b.dataset.shown) buttons.delete(b); // gone from the page
      continue;
    }
    b.dataset.shown = "1";
    const on = b.dataset.prompt === playing;
    b.setAttribute("aria-pressed", String(on));
    b.replaceChildren(icon(on ? "stop" : "play"));
    b.title = t(on ? "preview.stop" : "preview.play", { name: b.dataset.prompt });
  }
}

player.addEventListener("ended", () => { playing = null; update(); });
player.addEventListener("error", () => { playing = null; update(); });

export function stopPreview() {
  player.pause();
  playing = null;
  update();
}

export function playPreview(name) {
  if (!name) return;
  if (playing === name) { stopPreview(); return; }
  player.src = promptUrl(name);
  playing = name;
  player.play().catch(() => { playing = null; update(); });
  update();
}

// A small round play/stop button for one prompt; getName() is read at click time.
export function playButton(getName, extra = {}) {
  const button = h("button", { type: "button", class: "small ghost play", "aria-pressed": "false", ...extra }, icon("play"));
  const sync = () => { button.dataset.prompt = getName() || ""; button.disabled = !getName(); };
  sync();
  button.addEventListener("click", (e) => { e.stopPropagation(); sync(); playPreview(getName()); });
  button.sync = () => { sync(); update(); };
  button.title = t("preview.play", { name: getName() || "" });
  buttons.add(button);
  return button;
}

export function previewState() {
  return { playing, src: player.currentSrc, time: player.currentTime };
}
