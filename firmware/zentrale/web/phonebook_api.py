"""HTTP routes of the phonebook (caller names): its sources and their state, a refresh
now, the CSV upload, a look-up to check a number. Admins only (``web/auth.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from zentrale.config import CardDavConfig, FritzboxPhonebookConfig
from zentrale.web.limits import TooLarge, body_limit
from zentrale.web.schemas import Answer

if TYPE_CHECKING:
    from zentrale.phonebook.service import Phonebook


class PhonebookSourceAnswer(Answer):
    source: str = Field(description="fritzbox, carddav or csv")
    configured: bool = Field(description="fritzbox and carddav are set in the config file; csv is uploaded here")
    entries: int = Field(description="numbers cached from this source")
    refreshed_at: str | None = Field(description="when the cached entries were read")
    origin: str = Field(description="the file name or the address read")
    checked_at: str | None = Field(description="the last attempt to read it (since the start)")
    error: str | None = Field(description="why the last attempt failed; the cached entries are kept")
    ok: bool


class PhonebookAnswer(Answer):
    numbers: int = Field(description="numbers with a name, all sources together")
    refresh_minutes: float
    country_code: str = Field(description="for numbers written nationally (0 30 ...)")
    area_code: str = Field(description="for local numbers without an area code")
    max_csv_kb: int = Field(description="largest CSV upload accepted")
    sources: list[PhonebookSourceAnswer] = Field(description="csv wins over carddav, carddav over fritzbox")


class PhonebookLookupAnswer(Answer):
    number: str
    key: str = Field(description="the number as it is compared: +<country><national number>")
    name: str | None = Field(description="the name a call from this number gets; null: the SIP display name")


class PhonebookSources(BaseModel):
    fritzbox: FritzboxPhonebookConfig | None = Field(None, description="null: the FRITZ!Box is not read")
    carddav: CardDavConfig | None = Field(None, description="null: no CardDAV address book")


class PhonebookSettingsAnswer(Answer):
    from_: str = Field(alias="from", description="config: the config file's; web: saved in the web page")
    fritzbox: dict[str, Any] | None = Field(description="without the password; password_set says if one is kept")
    carddav: dict[str, Any] | None = Field(description="without the password; password_set says if one is kept")


def phonebook_router(phonebook: Phonebook) -> APIRouter:
    router = APIRouter(tags=["phonebook"])

    @router.get("/api/phonebook", response_model=PhonebookAnswer, summary="The phonebook's sources and their state")
    async def status() -> dict[str, Any]:
        return phonebook.status()

    @router.post(
        "/api/phonebook/refresh", response_model=PhonebookAnswer,
        summary="Read the FRITZ!Box and CardDAV address book now (also done every refresh_minutes)",
    )  # fmt: skip
    async def refresh() -> dict[str, Any]:
        return await phonebook.refresh()

    @router.put(
        "/api/phonebook/csv", response_model=PhonebookAnswer,
        summary="Upload a CSV phonebook (name;number per line, UTF-8 or Windows-1252); replaces the previous one",
        description="422 naming the broken lines (nothing is changed), 413 when it is larger than max_csv_kb.",
        openapi_extra=body_limit("stream", requestBody={"required": True, "content": {"text/csv": {"schema": {
            "type": "string", "format": "binary"}}}}),
    )  # fmt: skip
    async def upload(request: Request, filename: Annotated[str, Query(max_length=255)] = "phonebook.csv") -> Any:
        limit = phonebook.config.max_csv_kb * 1000
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise TooLarge(f"the CSV file is larger than {limit // 1000} KB")
        return await phonebook.upload_csv(bytes(data), filename)

    @router.get(
        "/api/phonebook/settings", response_model=PhonebookSettingsAnswer, response_model_by_alias=True,
        summary="The FRITZ!Box and CardDAV sources in force (passwords are never shown)",
    )  # fmt: skip
    async def settings() -> dict[str, Any]:
        return phonebook.settings()

    @router.put(
        "/api/phonebook/settings", response_model=PhonebookAnswer,
        summary="Set the FRITZ!Box and CardDAV sources (replacing the config file's) and read them now",
        description="An empty password keeps the one in force for the same address (URL) and user. "
        "A source set to null is no longer read and its cached names are deleted.",
    )  # fmt: skip
    async def save_settings(body: PhonebookSources) -> dict[str, Any]:
        return await phonebook.save_settings(body.fritzbox, body.carddav)

    @router.delete("/api/phonebook/csv", response_model=PhonebookAnswer, summary="Remove the uploaded CSV phonebook")
    async def remove() -> dict[str, Any]:
        return await phonebook.remove_csv()

    @router.get(
        "/api/phonebook/lookup", response_model=PhonebookLookupAnswer, summary="The name a call from a number gets"
    )
    async def lookup(number: Annotated[str, Query(min_length=1, max_length=200)]) -> dict[str, Any]:
        return {"number": number, "key": phonebook.key(number), "name": phonebook.lookup(number)}

    return router
