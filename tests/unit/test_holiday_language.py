"""Holiday names come in the page's language whatever the environment's locale is.

The ``holidays`` package knows "en_US", not "en", for Germany; given a language it does
not know it let gettext pick one from LANGUAGE/LC_ALL/LC_MESSAGES/LANG. Under LANG=C.UTF-8
Python 3.11 read that as en_US (English by accident), Python 3.13 as C (German names):
the 3.13-only failure of test_scheduling. Each locale runs in its own interpreter, since
gettext reads the environment when a calendar is made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zentrale.scheduling import holiday_language

PRINT_NAMES = """
import datetime
from zentrale.scheduling import public_holidays
day = datetime.date(2026, 10, 3)
print(public_holidays("DE", None, "en")(day), "|", public_holidays("DE", "BY", "de")(day))
"""


@pytest.mark.parametrize("locale_env", ["C.UTF-8", "de_DE.UTF-8", "en_GB.UTF-8", ""])
def test_holiday_names_follow_the_page_language_not_the_locale(locale_env: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    if locale_env:
        env["LANG"] = env["LANGUAGE"] = locale_env
    out = subprocess.run([sys.executable, "-c", PRINT_NAMES], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "German Unity Day | Tag der Deutschen Einheit"


def test_a_language_the_calendar_lacks_becomes_its_regional_variant_or_the_countrys_own() -> None:
    assert holiday_language("DE", "de") == "de"
    assert holiday_language("DE", "en") == "en_US"
    assert holiday_language("DE", "en_US") == "en_US"
    assert holiday_language("DE", "xx") == "de"
