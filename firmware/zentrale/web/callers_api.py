"""HTTP routes for the caller lists: the block list and the VIP list (agents may edit both; audited).

A number is kept as typed and found normalised (core/callers.py): "030 1234567" blocks
"+49301234567". Patterns are prefixes and simple wildcards, never regular expressions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from zentrale.core.callers import MAX_NUMBER_CHARS, CallerNumberError
from zentrale.errors import NotFound
from zentrale.web.auth import USER, access, actor

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.store.callers import CallerListRepository
    from zentrale.store.state import StateRepository

ListPath = Annotated[Literal["block", "vip"], Path(description="block: Sperrliste; vip: VIP-Liste")]
Number = Annotated[str, Field(min_length=1, max_length=MAX_NUMBER_CHARS * 2)]
MAX_IMPORT = 1000  # per request (the body limit, 64 KB, bounds it anyway)


class ListEntryOut(BaseModel):
    list: Literal["block", "vip"]
    key: str = Field(description="the normalised number or pattern it is found under (+49...)")
    number: str = Field(description="as typed")
    note: str
    added_at: str | None
    added_by: str | None


class CallerListsOut(BaseModel):
    block: list[ListEntryOut]
    vip: list[ListEntryOut]


class EntryIn(BaseModel):
    number: Number = Field(description="030 1234567, +49301234567, 0900* (any rest), 0171??????? (? one digit)")
    note: str = Field("", max_length=200)


class ImportIn(BaseModel):
    entries: list[EntryIn] = Field(max_length=MAX_IMPORT)


class Imported(BaseModel):
    added: int


class Removed(BaseModel):
    removed: str


class Lookup(BaseModel):
    number: str
    block: bool
    vip: bool


class LookupIn(BaseModel):
    numbers: list[Annotated[str, Field(max_length=255)]] = Field(max_length=500)


def callers_router(repo: CallerListRepository, state: StateRepository, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["caller lists"])
    lists = repo.lists

    @router.get("/api/caller-lists", response_model=CallerListsOut, summary="The block list and the VIP list")
    @access(USER)
    async def both() -> dict[str, Any]:
        return {"block": repo.entries("block"), "vip": repo.entries("vip")}

    @router.post(
        "/api/caller-lists/lookup",
        response_model=list[Lookup],
        summary="Which of these caller numbers are blocked or VIPs (for the viewer and the call log)",
    )
    @access(USER)
    async def lookup(body: LookupIn) -> list[dict[str, Any]]:
        return [
            {"number": n, "block": lists.contains("block", n), "vip": lists.contains("vip", n)} for n in body.numbers
        ]

    @router.get("/api/caller-lists/{name}", response_model=list[ListEntryOut], summary="One list")
    @access(USER)
    async def one(name: ListPath) -> list[dict[str, Any]]:
        return repo.entries(name)

    @router.post(
        "/api/caller-lists/{name}",
        response_model=ListEntryOut,
        summary='Put a number on a list ("Nummer sperren"); a known one gets the new note',
    )
    @access(USER)
    async def add(name: ListPath, body: EntryIn, request: Request) -> dict[str, Any]:
        who = actor(request)
        entry = await repo.add(name, body.number, body.note, clock.now(), who)
        await state.audit(clock.now(), who, f"callers.{name}_add", entry["key"])
        return entry

    @router.post(
        "/api/caller-lists/{name}/import",
        response_model=Imported,
        summary="Put many numbers on a list; one bad line refuses them all (nothing is taken over)",
    )
    @access(USER)
    async def import_(name: ListPath, body: ImportIn, request: Request) -> dict[str, int]:
        for i, item in enumerate(body.entries, start=1):
            try:
                lists.key(item.number)
            except CallerNumberError as err:
                raise CallerNumberError(f"line {i} ({item.number[:40]!r}): {err}") from None
        who = actor(request)
        added = await repo.add_many(name, [(item.number, item.note) for item in body.entries], clock.now(), who)
        await state.audit(clock.now(), who, f"callers.{name}_import", f"{len(body.entries)} numbers, {added} new")
        return {"added": added}

    @router.delete(
        "/api/caller-lists/{name}",
        response_model=Removed,
        summary='Take a number off a list ("Sperre aufheben"): as typed or normalised',
    )
    @access(USER)
    async def remove(
        name: ListPath, request: Request, number: Annotated[str, Query(min_length=1, max_length=64)]
    ) -> dict[str, str]:
        key = lists.key(number)
        if not await repo.remove(name, key):
            raise NotFound(f"{number} is not on the list")
        await state.audit(clock.now(), actor(request), f"callers.{name}_remove", key)
        return {"removed": key}

    return router
