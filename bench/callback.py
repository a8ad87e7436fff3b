"""Callback set-up latency (issue 16, item 3): pull -> the agent's phone rings -> (the agent
answers) -> the caller's phone rings.

Usage: .venv/bin/python -m bench.callback [callbacks]   (default 10)

Real peers as in tests/integration/test_callback.py: Kamailio as the office PBX, the box, the
agent's and the caller's pjsua2 phones registered to it. Each round the caller calls in, presses
2 and 1 (the number heard), hangs up when told; then the agent pulls the callback entry. The
phones stamp their events with CLOCK_MONOTONIC (one clock for every process on the machine), so
the figures are: the pull request sent -> the INVITE at the agent's phone; the agent's answer
sent -> the INVITE at the caller's phone; the pull -> the caller's phone ringing (the agent
answering at once).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.harness.office import running_office
from tests.harness.peers.phone import phone_pool
from tests.harness.waits import wait_until

from bench.common import machine
from bench.latency import stats

MODE = {
    "name": "Callback bench",
    "start": "queue",
    "nodes": {
        "queue": {
            "type": "queue",
            "team": "lvs",
            "hold": [{"music": "music_a", "seconds": 5}],
            "repeat_hold": True,
            "keys": {"2": "callback"},
        },
        "callback": {"type": "callback"},
    },
}


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 10
    teams = [{"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0}]
    to_agent: list[float] = []
    to_caller: list[float] = []
    whole: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_office(Path(tmp), mode=MODE, teams=teams) as office:
        api = office.api()
        assert api.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]}).status_code == 200
        with phone_pool() as start:
            agent = office.agent_phone(start, "201", "127.0.0.21", auto_answer="none")
            caller = office.agent_phone(start, "301", "127.0.0.31", auto_answer="none")
            assert api.post("/api/agents/anna/login", json={"number": "201"}).status_code == 200
            for _ in range(rounds):
                mark_a, mark_c = agent.mark(), caller.mark()
                call = caller.call(office.box.uri)
                caller.wait_event("media_active", call=call, timeout=5, since=mark_c)
                wait_until(lambda: api.get("/api/queues").json(), 5, "in the queue")
                caller.dtmf(call, "2")
                time.sleep(1.5)
                caller.dtmf(call, "1")
                caller.wait_event("disconnected", call=call, timeout=20, since=mark_c)
                entry = wait_until(lambda: [e for e in api.get("/api/queues").json() if e["callback"]], 5, "callback")
                mark_c = caller.mark()
                t_pull = time.monotonic()
                api.post(f"/api/queues/{entry[0]['entry_id']}/pull", json={"agent": "anna"})
                ring = agent.wait_event("incoming", timeout=5, since=mark_a)
                t_answer = time.monotonic()
                agent.answer(ring["call"])
                back = caller.wait_event("incoming", timeout=10, since=mark_c)
                to_agent.append(ring["t"] - t_pull)
                to_caller.append(back["t"] - t_answer)
                whole.append(back["t"] - t_pull)
                caller.answer(back["call"])
                caller.wait_event("media_active", call=back["call"], timeout=5, since=mark_c)
                caller.hangup(back["call"])
                agent.wait_event("disconnected", call=ring["call"], timeout=5, since=mark_a)
                wait_until(lambda: api.get("/api/agents/anna").json()["state"] == "available", 10, "anna free")
    print(machine())
    print(f"{rounds} callbacks (p50 / p99 / max ms)")
    print(f"  pull request -> INVITE at the agent's phone:      {stats(to_agent)}")
    print(f"  agent's answer sent -> INVITE at the caller's:    {stats(to_caller)}")
    print(f"  pull -> the caller's phone rings (agent at once): {stats(whole)}")


if __name__ == "__main__":
    main(sys.argv[1:])
