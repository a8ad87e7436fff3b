"""Distribution lists: bad addresses are refused at validation with a reason a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from zentrale.cli import main
from zentrale.config import parse_config
from zentrale.core.addresses import address_problem, check_addresses
from zentrale.core.modes import parse_mode
from zentrale.errors import ConfigError, ModeError

MAIL = "mail: {host: mail.example.com, sender: hotline@example.com}\n"


@pytest.mark.parametrize(
    "address",
    ["sap@example.com", "it.hotline+sap@firma.de", "a_b-c@mail.sub.example.org", "x@xn--mller-kva.de", "o'brien@ex.ie"],
)
def test_given_an_ordinary_address_then_it_is_accepted(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "empty"),
        ("sap.example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("Team SAP <sap@example.com>", "without a name or <>"),
        ("sap@example", "has no dot"),
        ("sap@exa_mple.com", "not a valid part of a domain"),
        ("sap@-example.com", "not a valid part of a domain"),
        ("sap..team@example.com", "misplaced dot"),
        (".sap@example.com", "misplaced dot"),
        ("@example.com", "nothing before the @"),
        ("sap@", "no domain"),
        ("sap@[10.0.0.1]", "IP address literals"),
        ("sap@10.0.0.1", "ends in a number"),
        ("müller@example.com", "non-ASCII"),
        (" sap@example.com", "spaces"),
        ("x" * 65 + "@example.com", "longer than 64"),
    ],
)
def test_given_a_bad_address_then_the_reason_is_named(address: str, reason: str) -> None:
    problem = address_problem(address)
    assert problem is not None
    assert reason in problem


def test_duplicates_are_dropped_case_insensitively_in_order() -> None:
    assert check_addresses(["a@example.com", "B@example.com", "A@EXAMPLE.COM", "b@example.com"]) == [
        "a@example.com",
        "B@example.com",
    ]


def test_given_a_team_list_with_a_typo_then_the_config_is_refused_naming_the_field() -> None:
    text = MAIL + "teams: [{id: sap, name: SAP, email: [ok@example.com, 'sap@example']}]\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "config.yaml")
    assert err.value.path == "teams.0.email"
    assert str(err.value) == (
        "config.yaml: teams.0.email: 'sap@example': the domain 'example' has no dot (like example.com);"
        " is a part missing?"
    )


def test_given_a_team_list_but_no_smtp_server_then_the_config_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("teams: [{id: sap, name: SAP, email: [sap@example.com]}]\n", "config.yaml")
    assert "mail.host" in err.value.problem


@pytest.mark.parametrize(
    ("mail", "path", "words"),
    [
        ("{host: h.example.com}", "mail", "mail.sender"),
        ("{host: h.example.com, sender: 'Hotline <h@example.com>'}", "mail.sender", "without a name"),
        ("{host: h.example.com, sender: h@example.com, viewer_url: zentrale:8080}", "mail.viewer_url", "http://"),
        ("{host: h.example.com, sender: h@example.com, timezone: Europe/Berlinn}", "mail.timezone", "time zone"),
        ("{host: h.example.com, sender: h@example.com, security: ssl}", "mail.security", "'starttls'"),
        ("{host: h.example.com, sender: h@example.com, ca_file: /nonexistent.pem}", "mail", "ca_file"),
    ],
)
def test_given_bad_mail_settings_then_the_config_is_refused(mail: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"mail: {mail}\n", "config.yaml")
    assert err.value.path == path
    assert words in err.value.problem


def test_the_port_follows_the_security_unless_given() -> None:
    def port(extra: str) -> int:
        return parse_config(f"mail: {{host: h.example.com, sender: h@example.com{extra}}}\n", "c").mail.smtp_port

    assert (port(""), port(", security: tls"), port(", security: none"), port(", port: 2525")) == (587, 465, 25, 2525)


def test_given_a_voicemail_node_with_a_bad_override_then_the_mode_is_refused() -> None:
    text = """
schema_version: 1
name: t
start: vm
nodes:
  vm: {type: voicemail, team: sap, email: [chef@example.com, "chef at example.com"]}
"""
    with pytest.raises(ModeError) as err:
        parse_mode(text, "mode.yaml")
    assert err.value.path == "nodes.vm.email"
    assert err.value.problem == "'chef at example.com' has a space in it; an address looks like team@example.com"


def test_check_config_names_the_file_the_field_and_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MAIL + "teams: [{id: sap, name: SAP, email: ['Team SAP <sap@example.com>']}]\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: teams.0.email: 'Team SAP <sap@example.com>': write only the address,"
        " like team@example.com, without a name or <>\n"
    )
