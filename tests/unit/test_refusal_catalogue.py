"""Every refusal the API can answer has a stable code the web page translates into German and
English, with what to do next (issue 17, 3): no text of the box reaches the page untranslated.

The raise sites are found in the firmware's source (AST): each error raised with a text is
rendered with stand-ins for its values and must map to a code of ``web/refusals.py`` -- the
most specific entry, not a general one that happens to come first. A raise site whose text
is made elsewhere (a variable) is listed below with where its texts come from."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import zentrale.app
import zentrale.web.api  # noqa: F401
from zentrale.accounts.passwords import check_password
from zentrale.config import InvalidField, MailConfig, validated
from zentrale.core.numbers import compile_pattern
from zentrale.errors import Invalid, Refused, ZentraleError
from zentrale.web import refusals
from zentrale.web.limits import json_problem
from zentrale.web.refusals import CATALOGUE, CLASS_WIDE, CODES, classify, refusal_body, validation_body

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "firmware" / "zentrale"
I18N = ROOT / "webui" / "src" / "i18n"

# Raise sites whose text is not written there, and where the texts come from (checked below).
MADE_ELSEWHERE = {
    ("accounts/service.py", "problem"): "check_password()",
    ("config.py", "problems"): "pydantic's messages of a settings form: an InvalidField, coded invalid_input",
    ("web/backup_api.py", "str(err)"): "an ArchiveRefused's text, raised as BackupRefused",
    ("web/teams_api.py", "str(err)"): "core.numbers.compile_pattern()'s ValueError",
    ("web/backup_api.py", "str(err).replace(str(upload), 'the uploaded file')"): "a StoreError's text",
    ("web/updates.py", "self.message"): "'the upload was interrupted' or 'download failed: ...', set just before",
}
# Codes whose texts use parameters the page adds itself (refusals.js): the HTTP status, the
# field's label and pydantic's error type as a translated problem.
PAGE_PARAMS = {"status", "field", "problem", "limit"}


def error_classes() -> dict[str, type[ZentraleError]]:
    found: dict[str, type[ZentraleError]] = {}
    todo: list[type[ZentraleError]] = [ZentraleError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


@dataclass(frozen=True)
class Site:
    where: str
    kind: type[ZentraleError]
    sample: str | None  # the text with stand-ins for its values; None: made elsewhere
    expression: str


def render(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for i, part in enumerate(node.values):
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            else:
                assert isinstance(part, ast.FormattedValue)
                value = f"v{i}"
                out.append(f"'{value}'" if part.conversion == ord("r") else value)
        return "".join(out)
    return None


def raise_sites() -> Iterator[Site]:
    classes = error_classes()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("lines/", "media/clock", "panel/")) or relative == "web/server.py":
            continue  # line drivers' errors end calls, the server's ends the start: no answers of the API
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            kind = classes.get(node.func.id)
            if kind is None or kind.__name__ in ("CallGone", "LineError"):
                continue
            first = node.args[1] if issubclass(kind, refusals.ConfigError) and len(node.args) > 2 else node.args[0]
            if issubclass(kind, refusals.ConfigError):
                yield Site(f"{relative}:{node.lineno}", kind, "", ast.unparse(first))
                continue
            yield Site(f"{relative}:{node.lineno}", kind, render(first), ast.unparse(first))


SITES = list(raise_sites())


def test_the_firmware_has_the_raise_sites_this_test_reads() -> None:
    assert len(SITES) > 100
    assert any(s.sample and "is not a number agents of" in s.sample for s in SITES)


@pytest.mark.parametrize("site", [s for s in SITES if s.sample], ids=lambda s: s.where)
def test_every_refusal_raised_with_a_text_has_its_code(site: Site) -> None:
    assert site.sample is not None
    error = site.kind.__new__(site.kind)
    code, params = classify(site.sample, error)
    assert code != "unknown", f"{site.where}: no code for {site.sample!r} -- add it to web/refusals.py"
    if any(issubclass(site.kind, kind) for kind in CLASS_WIDE):
        return
    matching = [r for r in CATALOGUE if r.template and r.regex.match(site.sample)]
    best = max(matching, key=lambda r: r.literal_length)
    assert code == best.code, f"{site.where}: {site.sample!r} is taken by a more general entry before {best.code}"
    assert set(params) == set(best.params)


def test_every_text_made_elsewhere_is_known() -> None:
    dynamic = {(s.where.split(":")[0], s.expression) for s in SITES if s.sample is None}
    assert dynamic == set(MADE_ELSEWHERE)
    for problem in (check_password(""), check_password("x" * 1000)):
        assert problem is not None and classify(problem, Refused())[0].startswith("password_too")
    for problem in (json_problem(b"[" * 40 + b"]" * 40, 32), json_problem(b"[NaN]", 32)):
        assert problem is not None and classify(problem)[0] in ("json_too_deep", "json_not_numbers")
    assert classify("the archive ends in the middle", refusals.BackupRefused())[0] == "backup_refused"
    for pattern in (" ", "^([0-9]", "sip:*@*", "01x?"):
        with pytest.raises(ValueError) as bad:
            compile_pattern(pattern)
        assert classify(str(bad.value), Invalid())[0].startswith("pattern_"), str(bad.value)


def test_a_settings_form_refusal_names_the_field_and_pydantics_error_type() -> None:
    # config.validated() refuses a team, the PBX or the e-mail settings as one InvalidField
    with pytest.raises(InvalidField) as refused:
        validated(MailConfig, {"host": "mail.example", "sender": "x y"}, "settings")
    code, params = classify(str(refused.value), refused.value)
    assert code == "invalid_input" and params["field"] == "sender" and params["type"] == "value_error"
    body = validation_body(
        [{"type": "string_too_long", "loc": ["body", "sender"], "msg": "x", "ctx": {"max_length": 255}}]
    )
    assert body["code"] == "invalid_input"
    assert body["params"] == {"field": "sender", "type": "string_too_long", "limit": "255"}


def test_the_login_number_refusal_names_the_number_and_the_teams() -> None:
    body = refusal_body("'01711234567' is not a number agents of lvs, sap may use", Refused())
    assert body["code"] == "number_not_allowed"
    assert body["params"] == {"number": "01711234567", "teams": "lvs, sap"}


def dictionaries() -> dict[str, dict[str, str]]:
    return {lang: json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8")) for lang in ("de", "en")}


def test_every_code_says_what_happened_and_what_to_do_next_in_both_languages() -> None:
    texts = dictionaries()
    for code in CODES:
        entries = [r for r in CATALOGUE if r.code == code]
        given = set(PAGE_PARAMS) | {p for r in entries for p in r.params}
        if any(not r.template for r in entries):
            given.add("detail")
        if code == "invalid_document":
            given |= {"source", "path", "problem"}
        if code.startswith("too_many_"):
            given.add("minutes")
        for lang, words in texts.items():
            for key in (f"refusal.{code}", f"refusal.{code}.next"):
                assert words.get(key, "").strip(), f"{lang}: {key} is missing"
                used = set(re.findall(r"\{(\w+)\}", words[key]))
                assert used <= given, f"{lang}: {key} uses {used - given}, which the box does not send"
            assert words[f"refusal.{code}"] != words[f"refusal.{code}.next"]


def test_the_page_shows_no_text_of_the_box_only_translations() -> None:
    # the one place the page reads an error answer is api.js, which makes the message from the
    # code (refusals.js); the login page uses refusals.js directly
    js = ROOT / "webui" / "src" / "js"
    readers = [p.name for p in js.glob("*.js") if re.search(r"\b(?:data|body)\??\.error\b", p.read_text())]
    assert readers == []
    api = (js / "api.js").read_text(encoding="utf-8")
    assert "refusalText(code" in api and "super(said.text)" in api
    login = (js / "login.js").read_text(encoding="utf-8")
    assert "refusalText(data.code" in login
