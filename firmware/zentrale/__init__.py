"""Zentrale: firmware of a small telephony hotline appliance."""

__version__ = "0.1.0"
