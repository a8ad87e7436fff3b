"""Names in URLs, checked before a route runs: too long or with characters no such
thing can have is a 422 naming the parameter (a 300-character prompt name once
reached the file system and came back as 500 "File name too long").

The patterns are the ones the things are created with (mode files, prompt
files, accounts); identifiers only looked up in tables are bounded in length.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MODE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$"  # as hotline.MODE_NAME_RE (a file name)
PROMPT_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$"  # as prompts.NAME_RE (a file name)

ModeName = Annotated[str, Path(max_length=64, pattern=MODE_NAME, description="a mode's name")]
PromptName = Annotated[str, Path(max_length=64, pattern=PROMPT_NAME, description="a prompt's name")]
UserName = Annotated[str, Path(min_length=1, max_length=64, description="an account's login name")]
Ident = Annotated[str, Path(min_length=1, max_length=64, description="the id")]
Address = Annotated[str, Path(min_length=1, max_length=64, description="an IPv4 or IPv6 address")]
Version = Annotated[int, Path(ge=1, le=1_000_000_000, description="a version number")]
VersionQuery = Annotated[int, Query(ge=1, le=1_000_000_000, description="a version number")]

By = Annotated[str, Query(max_length=80, description="who does it, for local tools (a session uses its user)")]
Comment = Annotated[str, Query(max_length=500, description="why, for the version history")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many rows")]
