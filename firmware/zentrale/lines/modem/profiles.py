"""Per-chip settings: what differs between voice modems that all claim V.253.

A profile is chosen by the identity the modem reports (``ATI3``, ``AT+FMI?``,
``AT+FMM?``) or forced by the configuration. ``hw/modems.md`` lists what was
verified on the simulator and what must still be checked on real hardware.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemProfile:
    id: str
    description: str
    match: tuple[str, ...]  # case-insensitive substrings of the identity
    vsm: str  # +VSM parameters: compression method, rate (and sensitivity, expansion)
    sample_format: str  # see samples.FORMATS
    full_duplex: bool  # +VTR works; otherwise +VTX/+VRX take turns
    flow_control: str  # "rtscts" (+IFC=2,2) or "xonxoff" (+IFC=1,1)
    flash: str  # how the hook-flash time is set: "S29" (10 ms units) or "fixed"
    flash_fixed_ms: int = 0  # the chip's own flash time when it cannot be set
    init: tuple[str, ...] = ()  # extra commands after the common ones (failures only logged)
    caller_id: str = "+VCID=1"  # formatted caller ID report (DATE/TIME/NMBR/NAME)


PROFILES: tuple[ModemProfile, ...] = (
    ModemProfile(
        id="conexant-cx93010",
        description="Conexant CX93010/CX93001 (USRobotics 5637, Zoom 3095, many 'USB 56K' sticks)",
        match=("cx93001", "cx93010", "u.s. robotics", "usrobotics", "zoom", "5637", "3095"),
        # The CX930xx reference lists 1/130 "UNSIGNED PCM", 129 IMA ADPCM, 140/141 2/4-bit ADPCM:
        # no G.711 on the chip, so 8-bit unsigned linear at 8 kHz.
        vsm="1,8000,0,0",
        sample_format="u8",
        full_duplex=True,
        flow_control="rtscts",
        flash="S29",
        init=("+VIT=0", "+VNH=1"),
    ),
    ModemProfile(
        id="conexant-hsf",
        description="Conexant HSF/HCF host-processed modems (USRobotics 56K softmodem family)",
        match=("hsf", "hcf", "softk56", "softmodem"),
        # +VSM=? on these lists 128 8-BIT LINEAR .. 131 ULAW, 132 ALAW, 133 LINEAR (16 bit).
        vsm="131,8000,0,0",
        sample_format="ulaw",
        full_duplex=True,
        flow_control="rtscts",
        flash="S29",
        init=("+VIT=0",),
    ),
    ModemProfile(
        id="v253-generic",
        description="Any other V.253 voice modem: V.253 code 1 (unsigned PCM), half duplex",
        match=(),
        vsm="1,8000",
        sample_format="u8",
        full_duplex=False,
        flow_control="rtscts",
        flash="S29",
        init=("+VIT=0",),
    ),
)

GENERIC = PROFILES[-1]


def profile_by_id(profile_id: str) -> ModemProfile:
    for profile in PROFILES:
        if profile.id == profile_id:
            return profile
    raise KeyError(profile_id)


def detect(identity: str) -> ModemProfile:
    """The first profile whose match strings occur in the modem's identity text."""
    text = identity.lower()
    for profile in PROFILES:
        if any(m in text for m in profile.match):
            return profile
    return GENERIC


def flash_commands(profile: ModemProfile, flash_ms: int) -> list[str]:
    """Commands that make the ``!`` dial modifier open the loop for ``flash_ms``."""
    if profile.flash == "S29":
        # S29: flash dial modifier time in units of 10 ms (Rockwell/Conexant S-register map)
        return [f"S29={max(1, min(255, round(flash_ms / 10)))}"]
    return []
