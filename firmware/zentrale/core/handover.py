"""How a waiting caller is handed over to an agent: the one type core passes along.

Ringing an agent (the ``Dialer`` port of ``core.distribution``) ends in one of
three ways when the agent takes the call:

- the agent's own call was answered, and the box bridges the caller to it
  (``L``, the leg: a line's ``Call`` in the daemon, a name in the editor's
  simulator -- core never looks inside, it only passes it on);
- the caller's PBX put the caller through to the agent itself (SIP REFER,
  RFC 3515, with its NOTIFY reporting the agent answered): ``TransferredByPbx``,
  the box leaves the call;
- the box hands the call on blind on an analog line (hook flash and the
  number, ITU-T V.253 §9): ``HookFlashTransfer``, whether anyone answers is
  the PBX's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, TypeVar

L = TypeVar("L")  # the agent's leg


@dataclass(frozen=True)
class TransferredByPbx:
    """The caller's PBX reported the agent answered (REFER's NOTIFY 200): our leg is not needed."""

    target: str


@dataclass(frozen=True)
class HookFlashTransfer:
    """The caller's analog line is to hand the call on to ``target`` with a hook flash."""

    target: str


HandOver: TypeAlias = L | TransferredByPbx | HookFlashTransfer
