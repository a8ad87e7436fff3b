"""Media: 20 ms PCM16 frames, codecs, the one media clock, players, recorder, DSP.

The same frames serve every line (SIP, modem, ALSA): players, recorders,
DTMF detection and bridging are written once.
"""
