"""The web page's sources: built into the package, both languages complete, nothing from the internet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "webui" / "src"


def test_the_package_serves_exactly_the_built_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_webui.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_text_exists_in_german_and_english_and_every_key_used_exists() -> None:
    de = json.loads((SRC / "i18n" / "de.json").read_text(encoding="utf-8"))
    en = json.loads((SRC / "i18n" / "en.json").read_text(encoding="utf-8"))
    assert set(de) == set(en)
    assert all(v.strip() for v in [*de.values(), *en.values()])
    used: set[str] = set()
    for path in [*SRC.glob("js/*.js"), *SRC.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_.]+)"', text))
        used |= set(re.findall(r'data-i18n(?:-[a-z]+)?="([a-z_.]+)"', text))
    assert sorted(used - set(de)) == []
    # placeholders match between the languages
    for key in de:
        assert set(re.findall(r"\{\w+\}", de[key])) == set(re.findall(r"\{\w+\}", en[key])), key


def test_help_has_the_same_sections_in_both_languages() -> None:
    sections = {
        lang: re.findall(r'<section id="([\w-]+)"', (SRC / "help" / f"{lang}.html").read_text(encoding="utf-8"))
        for lang in ("de", "en")
    }
    assert sections["de"] == sections["en"] and len(sections["de"]) >= 5


def test_nothing_is_loaded_from_another_host() -> None:
    offenders = []
    for path in SRC.rglob("*"):
        if path.suffix not in (".html", ".js", ".css", ".svg", ".json"):
            continue
        for url in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text(encoding="utf-8")):
            if url != "http://www.w3.org/2000/svg":
                offenders.append(f"{path.relative_to(SRC)}: {url}")
    assert offenders == []
