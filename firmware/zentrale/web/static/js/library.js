// Ansagen und Musik (admins): the prompt and music library. Listen in the browser, upload a file
// (the box converts and normalises it; a refusal shows the box's reason), draft a prompt from
// text with espeak-ng, see which modes use what, delete what no mode uses.
import { api, get, send } from "./api.js";
import { clear, confirmDialog, field, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { promptLength, t } from "./i18n.js";
import { modeTabs, pageHead } from "./modetabs.js";
import { promptUrl, stopPreview } from "./preview.js";
import { failed } from "./refusals.js";

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

// A name as a person writes it ("Wartehinweis Winter") turned into a valid prompt name
// ("wartehinweis_winter"): umlauts spelled out, everything else not allowed becomes "_".
export function promptId(text) {
  const spelled = text.trim().toLowerCase().replace(/ä/g, "ae").replace(/ö/g, "oe").replace(/ü/g, "ue").replace(/ß/g, "ss")
    .normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  return spelled.replace(/[^a-z0-9_.-]+/g, "_").replace(/^[_.-]+|[_.-]+$/g, "").slice(0, 64);
}

function nameFromFile(fileName) {
  return fileName.replace(/\.[^.]+$/, "").toLowerCase().replace(/[^a-z0-9_.-]+/g, "_").replace(/^[^a-z0-9_]+/, "").slice(0, 64);
}

export function mount(main) {
  const table = h("div", { id: "prompt-list" });
  const player = h("audio", { controls: true, id: "library-player", preload: "none" });
  const playing = h("div", { class: "player-name muted", id: "player-name" }, t("library.pick"));
  let prompts = [];
  let filter = "all";

  // --- upload ------------------------------------------------------------------------------------
  const upName = h("input", { type: "text", id: "upload-name", autocomplete: "off", placeholder: "greeting_summer" });
  const upFile = h("input", { type: "file", id: "upload-file", hidden: true, accept: ".wav,.mp3,.ogg,.oga,.flac,audio/*" });
  const fileName = h("span", { class: "file-name muted", id: "upload-file-name" }, t("library.no_file_chosen"));
  const filePick = h("div", { class: "file-pick" },
    h("button", { type: "button", class: "small", onclick: () => upFile.click() }, icon("file"), t("library.choose_file")), fileName, upFile);
  let upKind = "prompt";
  const kindButtons = h("div", { class: "segmented", role: "group", id: "upload-kind" }, ["prompt", "music"].map((k) =>
    h("button", { type: "button", "data-kind": k, "aria-pressed": String(k === upKind), onclick: () => {
      upKind = k;
      for (const b of kindButtons.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.kind === k));
    } }, icon(k === "music" ? "music" : "speaker"), t(k === "music" ? "library.kind_music" : "library.kind_prompt"))));
  const upResult = h("div", { id: "upload-result", role: "status" });
  const upButton = h("button", { type: "button", class: "primary", id: "upload-submit" }, icon("upload"), t("library.upload"));
  upFile.addEventListener("change", () => {
    const file = upFile.files[0];
    fileName.textContent = file ? file.name : t("library.no_file_chosen");
    if (file && !upName.value.trim()) upName.value = nameFromFile(file.name);
  });
  upButton.addEventListener("click", async () => {
    const file = upFile.files[0];
    const name = NAME_RE.test(upName.value.trim()) ? upName.value.trim() : promptId(upName.value);
    upName.value = name;
    if (!file) { result("alarm", t("library.no_file")); return; }
    if (!NAME_RE.test(name)) { result("alarm", t("library.bad_name")); return; }
    if (prompts.some((p) => p.name === name) && !(await confirmDialog({ title: t("library.replace_title", { name }),
      text: t("library.replace_text"), confirm: t("library.replace"), cancel: t("common.cancel") }))) return;
    upButton.disabled = true;
    result("info", t("library.converting", { file: file.name }));
    try {
      const p = await send("POST", `/api/prompts/${encodeURIComponent(name)}?filename=${encodeURIComponent(file.name)}&kind=${upKind}`, file);
      result("go", t("library.uploaded", { name: p.name, time: promptLength(p.seconds || 0) }));
      upFile.value = "";
      upName.value = "";
      fileName.textContent = t("library.no_file_chosen");
      await load();
      listen(p.name);
    } catch (err) {
      result("alarm", `${t("library.refused", { error: err.message })} ${err.next || ""}`);
    } finally {
      upButton.disabled = false;
    }
  });
  function result(kind, text) {
    clear(upResult, h("div", { class: `notice ${kind}` }, icon(kind === "go" ? "check" : kind === "alarm" ? "alert" : "info"), h("span", {}, text)));
  }

  // --- draft from text ------------------------------------------------------------------------------
  const ttsName = h("input", { type: "text", id: "tts-name", autocomplete: "off", placeholder: "outage_phone" });
  const ttsVoice = h("select", { id: "tts-voice" }, [["de", "lang.de"], ["en", "lang.en"]].map(([v, k]) => h("option", { value: v }, t(k))));
  const ttsText = h("textarea", { id: "tts-text", rows: "3", placeholder: t("library.tts_placeholder") });
  const ttsResult = h("div", { id: "tts-result", role: "status" });
  const ttsButton = h("button", { type: "button", id: "tts-submit" }, icon("mic"), t("library.tts_make"));
  ttsButton.addEventListener("click", async () => {
    const name = NAME_RE.test(ttsName.value.trim()) ? ttsName.value.trim() : promptId(ttsName.value);
    ttsName.value = name;
    if (!NAME_RE.test(name)) { clear(ttsResult, h("div", { class: "notice alarm" }, t("library.bad_name"))); return; }
    ttsButton.disabled = true;
    try {
      const p = await api("POST", `/api/prompts/${encodeURIComponent(name)}/speak`, { text: ttsText.value, voice: ttsVoice.value });
      clear(ttsResult, h("div", { class: "notice go" }, icon("check"), t("library.uploaded", { name: p.name, time: promptLength(p.seconds || 0) })));
      await load();
      listen(p.name);
    } catch (err) {
      clear(ttsResult, h("div", { class: "notice alarm" }, icon("alert"), `${t("library.refused", { error: err.message })} ${err.next || ""}`));
    } finally {
      ttsButton.disabled = false;
    }
  });

  const filters = h("div", { class: "segmented", role: "group", id: "library-filter" }, ["all", "prompt", "music"].map((f) =>
    h("button", { type: "button", "data-filter": f, "aria-pressed": String(f === filter), onclick: () => { filter = f; render(); } },
      t(`library.filter_${f}`))));

  main.append(
    modeTabs("prompts"),
    pageHead(t("library.title"), t("library.subtitle")),
    h("div", { class: "library-layout" },
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, t("library.list")), filters),
        h("div", { class: "player-bar" }, icon("speaker"), playing, player),
        table),
      h("div", { class: "stack" },
        h("section", { class: "card", id: "upload" },
          h("div", { class: "card-head" }, h("h2", {}, t("library.upload_title"))),
          h("div", { class: "card-body" },
            h("p", { class: "muted small-text" }, t("library.upload_hint")),
            h("div", { class: "field" }, h("span", { class: "label" }, t("library.file")), filePick),
            field(t("library.name"), upName, t("library.name_hint")),
            field(t("library.kind"), kindButtons),
            upButton, upResult)),
        h("section", { class: "card", id: "tts" },
          h("div", { class: "card-head" }, h("h2", {}, t("library.tts_title"))),
          h("div", { class: "card-body" },
            h("p", { class: "muted small-text" }, t("library.tts_hint")),
            h("div", { class: "form-row" }, field(t("library.name"), ttsName), field(t("library.voice"), ttsVoice)),
            field(t("library.text"), ttsText),
            ttsButton, ttsResult)))));

  function listen(name) {
    stopPreview();
    player.src = promptUrl(name);
    playing.replaceChildren(h("b", { class: "mono" }, name));
    player.play().catch(() => {});
    for (const row of table.querySelectorAll("tr[data-prompt]")) row.classList.toggle("playing", row.dataset.prompt === name);
  }

  const remove = async (p) => {
    if (!(await confirmDialog({ title: t("library.delete_title", { name: p.name }), text: t("library.delete_text"),
      confirm: t("common.delete"), cancel: t("common.cancel"), danger: true }))) return;
    try {
      await api("DELETE", `/api/prompts/${encodeURIComponent(p.name)}`);
      toast(t("library.deleted", { name: p.name }));
      load();
    } catch (err) {
      toast(t("library.refused", { error: err.message }), "alarm");
    }
  };

  function render() {
    for (const b of filters.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.filter === filter));
    const shown = prompts.filter((p) => filter === "all" || p.kind === filter);
    clear(table, h("table", { class: "list prompts" },
      h("thead", {}, h("tr", {}, ["", t("library.name"), t("library.kind"), t("library.length"), t("library.origin"), t("library.used_by"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, shown.map((p) => h("tr", { "data-prompt": p.name, "data-kind": p.kind, "data-source": p.source },
        h("td", {}, h("button", { type: "button", class: "small ghost play", "data-action": "listen", title: t("preview.play", { name: p.name }), "aria-label": t("preview.play", { name: p.name }),
          onclick: () => listen(p.name) }, icon("play"))),
        h("td", { class: "mono" }, p.name),
        h("td", {}, h("span", { class: `pill ${p.kind === "music" ? "ring" : "team"}` }, icon(p.kind === "music" ? "music" : "speaker"), t(p.kind === "music" ? "library.kind_music" : "library.kind_prompt"))),
        h("td", { class: "nowrap", "data-seconds": p.seconds ?? "" }, promptLength(p.seconds)),
        h("td", {}, t(p.source === "uploaded" ? "library.uploaded_short" : "library.shipped")),
        h("td", {}, p.used_by.length ? p.used_by.map((m) => h("a", { class: "pill", href: `#/editor/${encodeURIComponent(m)}` }, m)) : h("span", { class: "faint" }, t("library.unused"))),
        h("td", { class: "nowrap" }, p.source === "uploaded" ? h("button", { type: "button", class: "small ghost", "data-action": "delete",
          title: p.used_by.length ? t("library.in_use", { modes: p.used_by.join(", ") }) : t("common.delete"), "aria-label": t("common.delete"),
          onclick: () => remove(p) }, icon("trash")) : null))))));
  }

  async function load() {
    try {
      prompts = await get("/api/prompts");
    } catch (err) {
      failed(err);
      return;
    }
    render();
  }
  load();
  return () => player.pause();
}
