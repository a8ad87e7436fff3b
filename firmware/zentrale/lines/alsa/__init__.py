"""Analog lines through a line-interface board: audio through ALSA (pyalsaaudio), ring
detection and the hook relay through GPIO (gpiozero), DTMF and busy tone detected in-band."""
