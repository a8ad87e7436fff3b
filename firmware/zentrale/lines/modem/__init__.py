"""Analog lines through a V.253 voice modem: the wire codec, chip profiles, the serial
port threads, the ``ModemLine``/``ModemCall`` driver, and a modem simulator for tests."""
