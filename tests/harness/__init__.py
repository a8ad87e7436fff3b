"""What tests share; no test module imports another test module (tests/unit/test_harness_rules.py).

| module | what |
| --- | --- |
| `daemon` | the real daemon (`zentrale serve`) in its own process: `running_daemon`, `start_daemon`, `free_port` |
| `peers/` | real pjsua2 phones in their own processes (`sip_phones` fixture), sipvicious with a bind address |
| `waits` | `wait_until` / `until`: the one way to wait for a state (a condition with a deadline) |
| `audio`, `mp3` | checks on recorded audio: levels, tones, speech correlation, `heard`, `prompt_seconds` |
| `modes` | mode documents: `fast_mode`, `office_mode`, `straight_to_voicemail`, `demo_mode` |
| `kamailio`, `office` | Kamailio as the office PBX, the office (PBX + box + agents' phones + waiting callers) |
| `browser`, `webclient` | Debian's chromium via Playwright (`logged_in`, `shot`), the HTTP login |
| `smtp_server`, `tls_certs`, `tmpfs`, `notify_socket` | SMTP server, certificates, small disk, systemd socket |
| `sip_client`, `sip_probe`, `sip_messages`, `rtp_pcap`, `flood`, `rtp` | raw SIP/RTP from own sockets, floods |
| `panel`, `fakes`, `flow_world`, `stalled_calls` | unit-test rigs: mock GPIO pins, fake sessions, ManualClock worlds |
"""
