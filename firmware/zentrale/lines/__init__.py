"""Lines: the Line/Call ports (``base``) and their drivers (sip, modem, alsa)."""
