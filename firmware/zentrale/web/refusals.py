"""Every refusal the API answers carries a stable ``code`` and its ``params`` (issue 17, 3).

The box's errors are raised with an English text for the log and for API clients
(``errors.py``). The web page must not show that text to a German office worker: it
translates ``code`` with ``params`` (``webui/src/i18n``, keys ``refusal.<code>`` and
``refusal.<code>.next``, what happened and what to do next). This catalogue turns
the text back into the code and its parameters, in one place, so the code raising
an error stays as it is. A template is the raised text with ``{param}`` where the
raise site's f-string has a value; ``tests/unit/test_refusal_catalogue.py`` renders
every raise site of the firmware and fails on one the catalogue does not know, on
one matched by a more general entry first, and on a code without both translations.

An answer: ``{"error": <English text>, "code": "number_not_allowed",
"params": {"number": "01711234567", "teams": "lvs, sap"}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zentrale.config import InvalidField
from zentrale.errors import ConfigError, Invalid, MailError, StoreError, ZentraleError
from zentrale.mail.mp3 import Mp3Error
from zentrale.media.library import AudioDecodeError
from zentrale.store.backup import ArchiveRefused


class BackupRefused(Invalid):
    """An uploaded archive that is not a backup this box can restore (``backup_api.py``); the
    text says why (a member's name, a size): a detail the page quotes in its translated sentence."""


@dataclass(frozen=True)
class Refusal:
    code: str
    template: str  # the raised text, {name} for a parameter ("" for a class-wide entry)
    kind: type[BaseException] = ZentraleError  # the class the entry applies to
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.template)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$", re.DOTALL))

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)

    @property
    def literal_length(self) -> int:
        """How specific the template is: its characters outside parameters."""
        return len(re.sub(r"\{\w+\}", "", self.template))


R = Refusal
# Order matters only where two templates match one text; the catalogue test makes sure the
# most specific one comes first.
CATALOGUE: tuple[Refusal, ...] = (
    # --- logging in and access (web/auth.py, accounts/) --------------------------------------
    R("login_required", "login required"),
    R("own_agent_only", "you can only do this for your own agent"),
    R("admin_only", "this needs an admin account"),
    R("csrf", "missing or wrong CSRF token (X-CSRF-Token)"),
    R("other_site", "request from another site refused"),
    R("token_has_no_password", "the API token has no password"),
    R("wrong_login", "wrong user name or password"),
    R("wrong_old_password", "the current password is wrong"),
    R("wrong_setup_token", "wrong set-up token"),
    R("setup_done", "the set-up is done; log in"),
    R("too_many_logins", "too many failed logins; try again later"),
    R("too_many_passwords", "too many wrong passwords; try again later"),
    R("too_many_setup_tokens", "too many wrong set-up tokens; try again later"),
    R("user_not_found", "no user '{user}'"),
    R("bad_user_name", "a user name has 1-32 lower-case letters, digits, '.', '_' or '-'"),
    R("bad_role", "role must be one of {roles}"),
    R("password_needed", "a new account needs a password"),
    R("last_admin_role", "the last admin account cannot lose its role"),
    R("last_admin_delete", "the last admin account cannot be deleted"),
    R("password_too_short", "the password needs at least {min} characters"),
    R("password_too_long", "the password may have at most {max} characters"),
    # --- agents, logins with a number, pulling a call (staffing.py, core/) -------------------
    R("number_invalid", "'{number}' is neither a phone number nor a SIP URI"),
    R("number_not_allowed", "'{number}' is not a number agents of {teams} may use"),
    R("unknown_teams", "unknown team(s): {teams}"),
    R("bad_agent_id", "agent id '{agent}' may use letters, digits, '.', '_' and '-' only"),
    R("agent_not_found", "no agent {agent}"),
    R("agent_on_call_logout", "agent {agent} is on a call; log out after it"),
    R("agent_on_call", "agent {agent} is on a call"),
    R("agent_not_in_team", "agent {agent} is not a member of {teams}"),
    R("pull_not_in_team", "agent {agent} is not logged in to team {team}"),
    R("agent_not_logged_in", "agent {agent} is not logged in"),
    R("pull_not_available", "agent {agent} is {state}, not available"),
    R("agent_busy", "agent {agent} is {state}"),
    R("call_being_put_through", "call {entry} is already being put through to {agent}"),
    R("call_being_put_through", "call {entry} is being put through to {agent}"),
    R("call_no_longer_waiting", "call {entry} is no longer waiting"),
    R("call_gone", "no waiting call {entry}"),
    R("callback_number_refused", "team {team} does not call back {number}"),
    R("callback_not_a_task", "callback {callback} is {state}, not a task"),
    R("callback_not_found", "no callback {callback}"),
    R("pin_invalid", "a PIN has 4 to 12 digits"),
    R("pin_taken", "another agent has this PIN"),
    R("pin_not_set", "agent {agent} has no PIN"),
    R("sim_not_waiting", "the simulated caller is not waiting in a queue"),
    R("sim_not_found", "no simulation {sim}"),
    # --- modes, switches, the schedule ----------------------------------------------------
    R("mode_exists", "mode '{mode}' exists already"),
    R("mode_active", "mode '{mode}' is active; activate another one first"),
    R("mode_not_found", "no mode '{mode}' in {folder}"),
    R("bad_mode_name", "mode name '{mode}' may use letters, digits, '_' and '-' only"),
    R("version_not_found", "mode '{mode}' has no version {version}"),
    R("switch_not_found", "the active mode has no switch '{switch}'"),
    R("editor_needs_document", "give a mode or a document"),
    R("schedule_off", "the schedule is off"),
    R("schedule_mode_missing", "the schedule names mode '{mode}', which does not exist"),
    R("holidays_unknown", "no public holidays known for {where}: unknown country or federal state"),
    R("invalid_document", "", ConfigError),
    # --- statistics and the wallboard (store/statistics.py, store/wallboard.py) -------------
    R("statistics_by", "statistics by {by}: use hour, day or week"),
    R("statistics_range_reversed", "statistics range ends ({to}) before it starts ({start})"),
    R("statistics_range_too_long", "statistics by {by} cover at most {days} days"),
    R("statistics_dates", "statistics cover days from {earliest} to {latest}"),
    R("wallboard_tokens_full", "at most {most} wallboard tokens; revoke one first"),
    R("wallboard_token_not_found", "no wallboard token {token}"),
    R("wallboard_token_unknown", "unknown wallboard token"),
    R("wallboard_token_revoked", "this wallboard token was revoked"),
    # --- the call log (web/calllog_api.py) ----------------------------------------------------
    R("calllog_other_team", "the call log of team {team} is for its agents"),
    R("calllog_bad_before", "before is not a time: {before}"),
    R("calllog_before_id_alone", "before_id needs before"),
    # --- messages and their e-mail ------------------------------------------------------------
    R("message_not_found", "no message {message}"),
    R("bad_message_status", "status must be one of {states}"),
    R("message_taken", "{user} is already working on this message"),
    R("mail_off", "e-mail is off: no SMTP server is set"),
    R("mail_off", "e-mail is off: mail.host (the SMTP server) is not configured"),
    R("mail_no_recipients", "message {message} has no recipients: the team has no distribution list; give 'to'"),
    R("mail_not_queued", "message {message} was not queued for e-mail (no recipients, or e-mail off)"),
    R("mail_no_delivery", "message {message} has no e-mail delivery"),
    R("mail_sending_now", "message {message} is being sent right now"),
    R("mail_failed", "", MailError),
    # --- prompts and music (prompts.py, editor_api.py) ------------------------------------------
    R("bad_prompt_name", "prompt name '{name}' may use letters, digits, '.', '_' and '-' only"),
    R("file_too_big", "file too big: {size} MB, at most {max} MB"),
    R("file_too_big", "file too big: more than {max} MB"),
    R("file_empty", "the file is empty"),
    R("not_audio", "'{file}' is not an audio file ({detail})"),
    R("no_audio", "'{file}' contains no audio"),
    R("audio_too_long", "'{file}' is too long: {length}, at most {max}"),
    R("audio_not_converted", "the audio could not be converted: {detail}"),
    R("prompt_in_use", "prompt '{name}' is used by mode(s) {modes}"),
    R("prompt_not_deletable", "no uploaded prompt '{name}' (shipped prompts cannot be deleted)"),
    R("prompt_not_found", "prompt '{name}' not found in {folders}"),
    R("bad_prompt_name", "no prompt can be called '{name}'"),
    R("espeak_missing", "espeak-ng is not installed (Debian package espeak-ng)"),
    R("ffprobe_missing", "ffprobe (Debian package ffmpeg) is needed to check uploads"),
    R("text_length", "the text must have 1 to 2000 characters"),
    R("unknown_voice", "unknown voice '{voice}'"),
    R("espeak_failed", "espeak-ng failed: {detail}"),
    # --- caller lists: block list, VIPs (core/callers.py, web/callers_api.py) -------------------
    R("caller_number_missing", "a number is needed"),
    R("caller_number_too_long", "a number has at most {max} characters"),
    R("caller_number_control", "a number must not contain control characters"),
    R("caller_number_chars", "a number has digits, + and the wildcards ? (one digit) and * (at the end) only"),
    R("caller_number_wildcard", "* may only end a number (any rest), + only begin it"),
    R("caller_number_no_digit", "a number needs at least one digit"),
    R("caller_list_full", "a list holds at most {max} numbers"),
    R("caller_not_listed", "{number} is not on the list"),
    R("caller_import_line", "line {line} ({number}): {problem}"),
    # --- teams ------------------------------------------------------------------------------------
    R("pattern_empty", "an empty number pattern"),
    R("pattern_bad_regex", "{pattern} is not a regular expression: {detail}"),
    R("pattern_bad_sip", "{pattern}: a SIP URI pattern needs a literal host, like sip:*@vpn.example"),
    R("pattern_bad_dial", "{pattern}: a dial pattern has digits, x (any digit), *, # and + only"),
    R("team_not_found", "no team '{team}'"),
    R("team_used_by_modes", "team '{team}' is used by mode(s) {modes}: change them first"),
    R("team_has_agents", "team '{team}' still has agents: {agents}"),
    R("team_has_callers", "callers are waiting in team '{team}'"),
    # --- the page's HTTPS certificate (web/tls.py, web/tls_api.py) ---------------------------------
    R("tls_off", "HTTPS is off on this box (http.tls.enabled: false)"),
    R("tls_too_large", "certificate or key too large (64 KB at most)"),
    R("tls_not_pem_certificate", "the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----): {detail}"),
    R("tls_key_has_password", "the key is protected by a password: upload it without one"),
    R("tls_not_pem_key", "the key is not a PEM private key (-----BEGIN PRIVATE KEY-----): {detail}"),
    R("tls_rsa_too_short", "RSA key of {bits} bits: at least 2048"),
    R("tls_key_type", "only RSA and EC keys are supported"),
    R("tls_key_mismatch", "the key does not belong to the certificate (the first certificate must be the server's)"),
    R("tls_expired", "the certificate expired on {date}"),
    R("tls_not_yet_valid", "the certificate is valid only from {date} UTC"),
    R("tls_no_names", "the certificate names no host (subjectAltName): browsers refuse it"),
    R("tls_openssl_refuses", "OpenSSL refuses the certificate and key: {detail}"),
    R("tls_from_config", "the configuration names the certificate file ({file}); change it there"),
    R("tls_box_key_wrong", "{file}: not the box's EC key"),
    # --- firmware updates (web/updates.py) ---------------------------------------------------------
    R("update_busy", "an update is already {state}"),
    R("update_impossible", "updates are not possible here: {reason}"),
    R("update_too_large", "the bundle is bigger than {mb} MB"),
    R("update_no_bundle", "no bundle in the request (send the .raucb file as the body)"),
    R("update_upload_interrupted", "the upload was interrupted"),
    R("update_bad_address", "the address must start with http:// or https:// and name a host"),
    R("update_download_failed", "download failed: {detail}"),
    R("update_not_a_bundle", "the file is not a RAUC bundle: {detail}"),
    R("update_signature_refused", "RAUC refused the bundle's signature: {detail}"),
    R("update_incompatible", "the bundle is for another device: {detail}"),
    R("update_install_failed", "RAUC could not install the bundle: {detail}"),
    R("update_restart_busy", "an update is {state}: restart when it is done"),
    R("restart_impossible", "the box cannot be restarted from here: {detail}"),
    # --- caller names (phonebook/) -------------------------------------------------------------
    R("phonebook_csv_too_large", "the CSV file is larger than {kb} KB"),
    R("phonebook_csv_encoding", "the CSV file is neither UTF-8 nor Windows-1252 text"),
    R("phonebook_csv_empty", "the CSV file has no entries"),
    R("phonebook_csv_broken", "the CSV file has {count} broken lines (each needs a name and a number): {lines}"),
    # --- security, backup, limits, storage ----------------------------------------------------
    R("not_banned", "{address} is not banned"),
    R("backup_too_large", "the archive is larger than {max} GB"),
    R("backup_no_archive", "no archive in the request (send the .tar.gz file as the body)"),
    R("backup_no_space", "not enough space in the data folder to restore it: it needs {mb} MB"),
    R("upload_interrupted", "the upload was interrupted"),
    R("upload_stalled", "the upload stalled for {seconds} s"),
    R("backup_not_kept", "the box cannot keep the uploaded archive: {detail}"),
    R("body_too_large", "the request body is larger than {limit}, the limit here"),
    R("json_too_deep", "the JSON is nested {depth} levels deep, at most {max} are allowed"),
    R("json_not_numbers", "NaN and Infinity are not numbers JSON can carry (RFC 8259 §6)"),
    R("too_deep", "the data is nested too deeply to be read"),
    R("busy_try_again", "the document could not be checked: the worker process {what}"),
    R("backup_refused", "", BackupRefused),
    R("backup_refused", "", ArchiveRefused),
    R("audio_unreadable", "", AudioDecodeError),  # a prompt file the box cannot read (name: why)
    R("mp3_failed", "", Mp3Error),
    R("storage_failed", "", StoreError),  # the data disk or the database (disk full, damaged)
)

# Answers that are not errors of ours: FastAPI's validation of a request, a route or method
# that does not exist. ``unknown`` is what any other text would get (the test keeps it unused).
GENERAL_CODES = ("invalid_input", "not_found", "method_not_allowed", "unknown")
# Classes whose refusal is one code for every text (the text is a detail the page quotes:
# an SMTP server's answer, what is wrong in an archive); see CATALOGUE.
CLASS_WIDE = {r.kind: r.code for r in CATALOGUE if not r.template}
CODES = tuple(dict.fromkeys([*(r.code for r in CATALOGUE), *GENERAL_CODES]))


def classify(text: str, error: BaseException | None = None) -> tuple[str, dict[str, Any]]:
    """The code and parameters of a refusal with this text (raised as ``error``)."""
    if isinstance(error, ConfigError):
        return "invalid_document", {"source": error.source, "path": error.path, "problem": error.problem}
    if isinstance(error, InvalidField):  # a settings form (teams, PBX, e-mail): like FastAPI's own 422
        return "invalid_input", validation_body(
            [{"loc": error.field.split("."), "type": error.kind, "ctx": error.context}]
        )["params"]
    for refusal in CATALOGUE:
        if refusal.template and isinstance(error or ZentraleError(), refusal.kind):
            m = refusal.regex.match(text)
            if m:
                return refusal.code, m.groupdict()
    for kind, code in CLASS_WIDE.items():
        if error is not None and isinstance(error, kind):
            return code, {"detail": text}
    return "unknown", {"detail": text}


def refusal_body(text: str, error: BaseException | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON of a refusal: the English text (log, API clients), its code and parameters."""
    code, params = classify(text, error)
    return {"error": text, "code": code, "params": params, **extra}


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """FastAPI's 422 for a request that does not fit its schema: where and what (the page
    names the field and translates pydantic's error type)."""
    first = errors[0] if errors else {"loc": [], "type": "", "msg": ""}
    where = [p for p in first.get("loc", []) if p not in ("body", "query", "path")]
    params = {"field": ".".join(where) or "body", "type": str(first.get("type") or ""), "limit": _limit(first)}
    return {"detail": errors, "code": "invalid_input", "params": params}


def _limit(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    for key in ("max_length", "min_length", "le", "ge", "lt", "gt", "expected"):
        if key in ctx:
            return str(ctx[key])
    return ""
