"""The ``zentrale`` command: serve, check-config, switch, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zentrale import __version__
from zentrale.config import DEMO_DIR, Config, load_config
from zentrale.core.modes import parse_mode
from zentrale.errors import ConfigError, StoreError
from zentrale.priority import make_realtime
from zentrale.systemd_notify import JournalFormatter, logging_to_journal

if TYPE_CHECKING:
    from zentrale.app import App

APPLIANCE_CONFIG = Path("/etc/zentrale/config.yaml")


def _config(args: argparse.Namespace, overrides: dict[str, object]) -> Config:
    """The configuration with the command line's overrides; a relative data folder is
    taken relative to the configuration file."""
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(Path(args.data_dir).resolve())
    config = load_config(Path(args.config) if args.config else None, overrides)
    if not config.data_dir.is_absolute():
        base = Path(args.config).resolve().parent if args.config else Path.cwd()
        config = config.model_copy(update={"data_dir": (base / config.data_dir).resolve()})
    return config


def _import_the_box() -> tuple[type[App], Callable[[Path], object]]:
    """The daemon's modules, imported late (check-config stays light).

    They make ~100k objects that live as long as the process: the cyclic collector would
    scan them again and again while they are made, and once more in the mode's
    ``gc.collect()`` before its ``gc.freeze()`` (hotline.py). Not collecting during the
    imports and freezing what they made (a few hundred kB of import-time garbage with it)
    saves ~0.1 s of CPU natively (image-build/PROOF.md)."""
    # numpy's OpenBLAS starts a thread pool with buffers per core when it is imported: half
    # of numpy's import (~60 ms of CPU natively) for matrix products the box never
    # makes (its 20 ms frames are element-wise work); one thread, unless set otherwise
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.disable()
    try:
        from zentrale.app import App
        from zentrale.store.backup import apply_pending_restore
    finally:
        gc.freeze()
        gc.enable()
    return App, apply_pending_restore


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.sip_port is not None:
        overrides["sip.port"] = args.sip_port
    if args.http_port is not None:
        overrides["http.port"] = args.http_port
    if args.http_bind:
        overrides["http.bind"] = args.http_bind
    try:
        config = _config(args, overrides)
    except ConfigError as err:
        print(f"zentrale: configuration error: {err}", file=sys.stderr)
        return 2
    App, apply_pending_restore = _import_the_box()
    apply_pending_restore(config.data_dir)  # a backup uploaded in the web page, before the database opens
    if config.service.realtime_priority:  # before the first thread: threads made later start normal
        log = logging.getLogger("zentrale")
        try:
            log.info("the media clock runs %s", make_realtime(config.service.realtime_priority))
        except OSError as err:
            log.warning("the media clock stays at normal priority: real-time refused (%s)", err.strerror)

    async def run() -> int:
        app = App(config, Path(args.config) if args.config else DEMO_DIR / "config.yaml")
        await app.run()
        return app.exit_code

    try:
        return asyncio.run(run())
    except ConfigError as err:
        print(f"zentrale: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"zentrale: cannot start: {err}", file=sys.stderr)
        return 1


def _default_config(args: argparse.Namespace) -> None:
    """backup/restore on the appliance: /etc/zentrale/config.yaml unless told otherwise."""
    if args.config is None and APPLIANCE_CONFIG.is_file():
        args.config = str(APPLIANCE_CONFIG)


def _backup(args: argparse.Namespace) -> int:
    from zentrale.store.backup import create_backup

    _default_config(args)
    try:
        config = _config(args, {})
        config_file = Path(args.config) if args.config else DEMO_DIR / "config.yaml"
        manifest = create_backup(config.data_dir, config_file, Path(args.file), __version__)
    except (ConfigError, StoreError, OSError) as err:
        print(f"zentrale: backup failed: {err}", file=sys.stderr)
        return 1
    counts = manifest["counts"]
    print(
        f"{args.file}: {counts['messages']} message(s), {counts['modes']} mode(s), {counts['prompts']} prompt(s), "
        f"database and configuration of {config.data_dir}"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from zentrale.store.backup import restore_backup

    _default_config(args)
    if args.data_dir:
        data_dir = Path(args.data_dir).resolve()
    elif args.config and Path(args.config).is_file():
        try:
            data_dir = _config(args, {}).data_dir
        except ConfigError as err:
            print(f"zentrale: configuration error: {err}", file=sys.stderr)
            return 2
    else:
        print("zentrale: restore: name the data folder with --data-dir (or an existing --config)", file=sys.stderr)
        return 2
    try:
        manifest = restore_backup(
            Path(args.file), data_dir, Path(args.config) if args.config else None, force=args.force
        )
    except (StoreError, OSError) as err:
        print(f"zentrale: restore failed: {err}", file=sys.stderr)
        return 1
    counts = manifest["counts"]
    print(
        f"restored {counts['messages']} message(s), {counts['modes']} mode(s), {counts['prompts']} prompt(s) "
        f"and the database into {data_dir} (backup of {manifest['created_at']}); start the daemon now"
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        print(f"{path}: cannot read: {err.strerror}", file=sys.stderr)
        return 2
    try:
        if "nodes:" in text or '"nodes"' in text:
            mode = parse_mode(text, str(path))
            print(f"{path}: mode '{mode.name}' is valid ({len(mode.nodes)} nodes, {len(mode.switches)} switches)")
        else:
            config = load_config(path)
            print(f"{path}: configuration is valid (SIP port {config.sip.port}, {len(config.teams)} teams)")
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0


def _local_access(args: argparse.Namespace) -> tuple[str, str] | None:
    """The daemon's URL and its API token (``<data folder>/api-token``, readable by the daemon's user only)."""
    overrides: dict[str, object] = {"data_dir": str(Path(args.data_dir).resolve())} if args.data_dir else {}
    try:
        config = load_config(Path(args.config) if args.config else None, overrides)
    except ConfigError as err:
        print(f"zentrale: configuration error: {err}", file=sys.stderr)
        return None
    if not config.data_dir.is_absolute():
        base = Path(args.config).resolve().parent if args.config else Path.cwd()
        config = config.model_copy(update={"data_dir": (base / config.data_dir).resolve()})
    host = config.http.bind if config.http.bind not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = args.url or f"http://{host}:{config.http.port}"
    token_file = Path(args.token_file) if args.token_file else config.data_dir / "api-token"
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        print(
            f"zentrale: cannot read the API token {token_file}: {err.strerror} "
            "(run as the daemon's user, or give --config/--data-dir/--token-file)",
            file=sys.stderr,
        )
        return None
    return url, token


def _switch(args: argparse.Namespace) -> int:
    access = _local_access(args)
    if access is None:
        return 2
    url, token = access
    body = json.dumps({"on": args.state == "on", "by": args.by}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/switches/{args.switch}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            state = json.loads(response.read())
    except urllib.error.HTTPError as err:
        print(f"zentrale: {err.code}: {err.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as err:
        print(f"zentrale: cannot reach the daemon at {url}: {err.reason}", file=sys.stderr)
        return 1
    print(f"{state['label']}: {'on' if state['on'] else 'off'} (by {state['by']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zentrale", description="Zentrale hotline appliance")
    parser.add_argument("--version", action="version", version=f"zentrale {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the daemon in the foreground")
    serve.add_argument("--config", help="configuration file (default: the demo hotline)")
    serve.add_argument("--data-dir", help="data folder (database, messages, modes)")
    serve.add_argument("--sip-port", type=int, help="SIP port (UDP and TCP)")
    serve.add_argument("--http-port", type=int, help="web/API port")
    serve.add_argument("--http-bind", help="web/API address (default 0.0.0.0: the local network)")
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check-config", help="validate a configuration file or a mode document")
    check.add_argument("file")
    check.set_defaults(func=_check_config)

    switch = sub.add_parser("switch", help="flip a manual-control switch of the running daemon")
    switch.add_argument("switch", help="switch id, e.g. sap_outage")
    switch.add_argument("state", choices=["on", "off"])
    switch.add_argument("--by", default="cli", help="name for the audit log")
    switch.add_argument("--config", help="the daemon's configuration file (finds its data folder and port)")
    switch.add_argument("--data-dir", help="the daemon's data folder (holds api-token)")
    switch.add_argument("--token-file", help="the API token file (default: <data folder>/api-token)")
    switch.add_argument("--url", help="the daemon's HTTP address (default: from the configuration)")
    switch.set_defaults(func=_switch)

    backup = sub.add_parser("backup", help="write configuration, modes, prompts, messages and database to FILE")
    backup.add_argument("file", help="the archive (.tar, or .tar.gz to compress)")
    backup.add_argument("--config", help=f"configuration file (default: {APPLIANCE_CONFIG} if present)")
    backup.add_argument("--data-dir", help="data folder (default: the configuration's)")
    backup.set_defaults(func=_backup)

    restore = sub.add_parser("restore", help="bring a backup archive back (stop the daemon first)")
    restore.add_argument("file", help="an archive written by 'zentrale backup'")
    restore.add_argument("--config", help=f"where the configuration goes (default: {APPLIANCE_CONFIG} if present)")
    restore.add_argument("--data-dir", help="data folder to restore into (default: the configuration's)")
    restore.add_argument("--force", action="store_true", help="replace a data folder that holds data")
    restore.set_defaults(func=_restore)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if logging_to_journal():  # under systemd: priorities for journald, no second time stamp
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JournalFormatter())
    return int(args.func(args))
