"""Mode documents from requests, parsed and checked off the event loop.

Parsing, validating, dumping and comparing documents is done by one worker
*process* that belongs to the web layer (started on first use), so at most one
big document is being worked on at a time and none of that work shares the
event loop's GIL. A thread would not do: measured on this kind of machine
(bench/http_documents.py), a thread parsing YAML delayed the 20 ms media clock
by 6 ms at the median and by 30-95 ms at worst (GIL hand-over every 5 ms, and
a GIL holder preempted by the OS keeps it); the same work in another process:
0.9 ms and 7 ms.

Both parsers stop at nesting deeper than ``max_depth`` levels as soon as they
get there, and a document of more than ``MAX_VALUES`` values (an alias counted
each time it is used) is refused before it is validated, each with a
``ModeError`` (HTTP 422) -- deep nesting used to surface as a RecursionError
(500), and a "billion laughs" of YAML aliases would expand during validation.

Functions run in the worker are the module-level ones in ``WORK`` (asked for
by name); their errors come back as the same ``ZentraleError`` classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import json.decoder
import json.scanner
import logging
import os
import pickle
import sys
import traceback
from asyncio.subprocess import PIPE
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from zentrale import errors
from zentrale.core.modes import Mode, ModeProblem, check_mode, dump_mode, parse_mode_data, schema_problems
from zentrale.errors import ConfigError, ModeError, ZentraleError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_VALUES = 10_000  # a large real mode has ~2,000 (200 nodes); more is refused before validation


class _TooDeep(Exception):
    pass


class WorkerFailed(ZentraleError):
    """The worker process died or hung (HTTP 503: the next request gets a new one)."""


def _bounded_json(max_depth: int) -> json.JSONDecoder:
    """The standard library's pure-Python JSON decoder, refusing nesting deeper than ``max_depth``
    as soon as it gets there (the C decoder recurses until RecursionError)."""
    decoder = json.JSONDecoder()
    depth = 0

    def bounded(parse: Callable[..., Any]) -> Callable[..., Any]:
        def enter(*args: Any) -> Any:
            nonlocal depth
            depth += 1
            try:
                if depth > max_depth:
                    raise _TooDeep
                return parse(*args)
            finally:
                depth -= 1

        return enter

    decoder.parse_object = bounded(json.decoder.JSONObject)  # type: ignore[attr-defined]
    decoder.parse_array = bounded(json.decoder.JSONArray)  # type: ignore[attr-defined]
    decoder.parse_string = json.decoder.py_scanstring  # type: ignore[attr-defined]
    decoder.parse_constant = _not_json
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON can carry")  # RFC 8259 §6; YAML's .nan is its own


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader; the composer refuses deep nesting before it recurses."""

    max_depth = 32

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def count_values(data: Any, limit: int) -> int:
    """The number of values (containers, keys and scalars) in ``data``; counting stops past
    ``limit``. Iterative: shared (aliased) and even cyclic structures end at the limit."""
    count = 0
    todo = [data]
    while todo and count <= limit:
        value = todo.pop()
        count += 1
        if isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return count


def load_document(text: str, source: str, max_depth: int = 32, max_values: int = MAX_VALUES) -> Any:
    """Decode a mode document (JSON when it starts with "{", else YAML) within the limits."""
    too_deep = f"nested more than {max_depth} levels deep"
    data: Any = None
    decoded = False
    if text.lstrip().startswith("{"):
        try:
            data, end = _bounded_json(max_depth).raw_decode(text, len(text) - len(text.lstrip()))
            decoded = not text[end:].strip()
        except _TooDeep:
            raise ModeError(source, "", too_deep) from None
        except ValueError:
            decoded = False  # YAML's flow style also starts with "{": let the YAML parser say what is wrong
    if not decoded:
        loader: _BoundedLoader | None = None
        try:
            loader = _BoundedLoader(text)  # checks the characters first: a NUL is a YAMLError here
            loader.max_depth = max_depth
            data = loader.get_single_data()
        except _TooDeep:
            raise ModeError(source, "", too_deep) from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ModeError(source, where, f"not valid YAML/JSON: {getattr(err, 'problem', err)}") from err
        except ValueError as err:  # e.g. an integer of more than 4,300 digits (CVE-2020-10735 limit)
            raise ModeError(source, "", f"not valid YAML/JSON: {err}") from err
        finally:
            if loader is not None:
                loader.dispose()
    if count_values(data, max_values) > max_values:
        raise ModeError(source, "", f"more than {max_values} values: too big for a mode document")
    return data


def _errors_only(problems: list[ModeProblem], source: str) -> None:
    errors_ = [p for p in problems if p.severity == "error"]
    if errors_:
        more = f" (and {len(errors_) - 1} more problems)" if len(errors_) > 1 else ""
        raise ModeError(source, errors_[0].path, errors_[0].message + more)


# --- the work done in the worker process -----------------------------------------------------------


def parse_checked(
    text: str, source: str, max_depth: int, prompts: Iterable[str], teams: Iterable[str], as_yaml: bool
) -> tuple[Mode, str]:
    """A document as a request brings it: decoded within the limits, schema and every check
    (graph, prompts, teams); with its text as YAML when ``as_yaml`` (JSON from the editor)."""
    mode = parse_mode_data(load_document(text, source, max_depth), source)
    _errors_only(check_mode(mode, prompts=prompts, teams=teams), source)
    return mode, dump_mode(mode) if as_yaml else text


def problems_of(data: Any, prompts: Iterable[str], teams: Iterable[str]) -> tuple[Mode | None, list[ModeProblem]]:
    """Every schema problem; once the schema holds, every check of the graph, prompts and teams."""
    mode, found = schema_problems(data)
    if mode is None:
        return None, found
    return mode, check_mode(mode, prompts=prompts, teams=teams)


def editor_check(
    text: str, source: str, max_depth: int, prompts: Iterable[str], teams: Iterable[str]
) -> dict[str, Any]:
    """What the editor shows while a document is edited."""
    data = load_document(text, source, max_depth) if text.strip() else None
    _, found = problems_of(data, prompts, teams)
    return {"ok": not any(p.severity == "error" for p in found), "problems": [p.model_dump() for p in found]}


def new_mode(
    text: str, source: str, max_depth: int, fallback: dict[str, Any], prompts: Iterable[str], teams: Iterable[str]
) -> tuple[Mode, str]:
    """A new mode from the body (or ``fallback`` for none), checked, as YAML text."""
    mode = parse_mode_data(load_document(text, source, max_depth) if text.strip() else fallback, source)
    _errors_only(check_mode(mode, prompts=prompts, teams=teams), source)
    return mode, dump_mode(mode)


def sim_mode(text: str, max_depth: int, prompts: Iterable[str], teams: Iterable[str]) -> Mode | None:
    """The unsaved document of a simulation request (``{"document": {...}}``), if it has one."""
    data = load_document(text, "editor", max_depth) if text.strip() else {}
    if not isinstance(data, dict) or not isinstance(data.get("document"), dict):
        return None
    mode, found = problems_of(data["document"], prompts, teams)
    errors_ = [p for p in found if p.severity == "error"]
    if mode is None or errors_:
        raise ModeError("editor", errors_[0].path, errors_[0].message)
    return mode


def stored_mode(path: Path, max_depth: int = 32) -> Mode:
    """A mode file as ``parse_mode`` reads it, with the same bounds as an upload (a file brought
    by a restore or by hand is not trusted more)."""
    mode = parse_mode_data(load_document(path.read_text(encoding="utf-8", errors="replace"), str(path), max_depth),
                           str(path))  # fmt: skip
    _errors_only(check_mode(mode), str(path))
    return mode


def stored_dump(path: Path, fmt: str) -> str:
    return dump_mode(stored_mode(path), "json" if fmt == "json" else "yaml")


def stored_summary(path: Path, prompts: Iterable[str], teams: Iterable[str]) -> tuple[str, list[str], str]:
    """Title, errors and description of a stored mode, for the editor's list."""
    try:
        mode = stored_mode(path)
    except ModeError as err:
        return path.stem, [str(err)], ""
    found = problems_of(mode.model_dump(mode="json"), prompts, teams)[1]
    return mode.name, [p.message for p in found if p.severity == "error"], mode.description


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name)
    )


WORK: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (parse_checked, editor_check, new_mode, sim_mode, stored_mode, stored_dump, stored_summary, unified_diff)
}


def _call(name: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
    """In the worker: errors travel back as plain tuples (ConfigError does not unpickle)."""
    try:
        return True, WORK[name](*args)
    except ConfigError as err:
        return False, (type(err).__name__, err.source, err.path, err.problem)
    except ZentraleError as err:
        return False, (type(err).__name__, str(err))
    except OSError as err:  # a stored document that cannot be read
        return False, ("StoreError", f"{err.strerror or err}")
    except Exception as err:  # a bug: its traceback goes to the daemon's log (our stderr), the request gets 500
        traceback.print_exc()
        return False, ("ZentraleError", f"the document could not be checked ({type(err).__name__})")


def _serve() -> None:
    """The worker's loop: a length-prefixed pickle in on stdin, one out on stdout, until EOF."""
    # background work: under load the kernel gives the daemon (the media clock) the CPU first
    os.nice(10)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while header := requests.read(8):
        name, args = pickle.loads(requests.read(int.from_bytes(header, "big")))
        answer = pickle.dumps(_call(name, args), protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(len(answer).to_bytes(8, "big") + answer)
        answers.flush()


class DocumentWorker:
    """The web layer's worker process for documents (``python -m zentrale.web.documents``,
    started on first use; one request at a time; restarted when it dies or takes too long).

    Our own child process and pipe, not ``multiprocessing``: its "spawn" runs the daemon's
    ``__main__`` again in the child, and "fork" would copy a process that has threads."""

    def __init__(self, max_depth: int = 32, timeout: float = 60.0) -> None:
        self.max_depth = max_depth
        self.timeout = timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _worker(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "zentrale.web.documents", stdin=PIPE, stdout=PIPE
            )
        return self._proc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        request = pickle.dumps((fn.__name__, args), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._lock:
            try:
                answer = await self._ask(request)
            except WorkerFailed:  # it may have died before this request (killed, out of memory): once more
                answer = await self._ask(request)
        ok, result = pickle.loads(answer)
        if not ok:
            kind = getattr(errors, result[0], ZentraleError)
            raise kind(*result[1:])
        return result  # type: ignore[no-any-return]

    async def _ask(self, request: bytes) -> bytes:
        proc = await self._worker()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(len(request).to_bytes(8, "big") + request)
            async with asyncio.timeout(self.timeout):
                await proc.stdin.drain()
                size = int.from_bytes(await proc.stdout.readexactly(8), "big")
                return await proc.stdout.readexactly(size)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as err:
            self._stop()
            what = "took too long" if isinstance(err, TimeoutError) else "ended"
            log.error("the documents worker process %s; it is started again for the next request", what)
            raise WorkerFailed(f"the document could not be checked: the worker process {what}") from None

    def _stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        self._proc = None

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None and self._proc.stdin is not None:
            self._proc.stdin.close()  # the worker ends at EOF
            try:
                async with asyncio.timeout(2):
                    await self._proc.wait()
            except TimeoutError:
                self._stop()
        self._proc = None


if __name__ == "__main__":
    _serve()
