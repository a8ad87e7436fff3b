"""The FRITZ!Box's phonebooks over TR-064, with ``fritzconnection``.

AVM's service ``X_AVM-DE_OnTel:1`` (document "X_AVM-DE_OnTel", TR-064 interface
description): ``GetPhonebookList`` gives the phonebook ids, ``GetPhonebook`` a
phonebook's name and ``NewPhonebookURL``, an XML file (``<phonebooks><phonebook>
<contact><person><realName>`` and ``<telephony><number>``) fetched with the same
digest-authenticated session. Blocking: runs in a worker thread (``service.py``).
"""

from __future__ import annotations

import logging

import requests
from fritzconnection import FritzConnection
from fritzconnection.core.exceptions import FritzAuthorizationError, FritzConnectionException
from fritzconnection.lib.fritzphonebook import FritzPhonebook

from zentrale.config import FritzboxPhonebookConfig
from zentrale.phonebook.sources import Listing, SourceFailed, clean_name

# fritzconnection logs every failed connection as an error (and a box without igddesc.xml at
# INFO) on each refresh; the phonebook service reports a failure once per reason (service.py)
logging.getLogger("fritzconnection").setLevel(logging.CRITICAL)


def read_fritzbox(config: FritzboxPhonebookConfig) -> list[Listing]:
    where = f"{config.address}:{config.port or (49443 if config.tls else 49000)}"
    try:
        connection = FritzConnection(
            address=config.address, port=config.port, user=config.user, password=config.password,
            timeout=config.timeout, use_tls=config.tls,
        )  # fmt: skip
        book = FritzPhonebook(fc=connection)
        ids = config.phonebooks if config.phonebooks is not None else book.phonebook_ids
        entries: list[Listing] = []
        for phonebook_id in ids:
            for name, numbers in book.get_all_name_numbers(phonebook_id):
                entries.extend((str(n).strip(), clean_name(name or "")) for n in numbers if n and name)
    except FritzAuthorizationError:
        raise SourceFailed(
            f"the FRITZ!Box at {where} refused user '{config.user}': wrong password, or the user may not read "
            "the phonebooks"
        ) from None
    except requests.Timeout:
        raise SourceFailed(f"the FRITZ!Box at {where} did not answer within {config.timeout:g} s") from None
    except requests.ConnectionError:
        raise SourceFailed(f"the FRITZ!Box at {where} cannot be reached") from None
    except (FritzConnectionException, requests.RequestException, OSError, ValueError) as err:
        if _caused_by(err, requests.Timeout):
            raise SourceFailed(f"the FRITZ!Box at {where} did not answer within {config.timeout:g} s") from None
        if _caused_by(err, requests.ConnectionError):  # fritzconnection wraps it in its own exception
            raise SourceFailed(f"the FRITZ!Box at {where} cannot be reached") from None
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise SourceFailed(f"the FRITZ!Box at {where} gave no phonebook: {detail}") from None
    return [(number, name) for number, name in entries if name]


def _caused_by(err: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
