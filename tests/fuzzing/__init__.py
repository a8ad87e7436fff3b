"""A deterministic mutation fuzzer for the SIP line: real seed messages (in and out of a
real dialog, RFC 4475's torture files), mutated SIP over UDP and TCP, and RTP garbage and
mutated RFC 4733 events sent to a live call; used by tests/integration/test_sip_fuzz.py and
bench/sip_fuzz.py."""
