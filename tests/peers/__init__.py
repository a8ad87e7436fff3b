"""Real SIP peers for integration tests: pjsua2 phones in their own processes."""
