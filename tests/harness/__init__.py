"""What tests share: the daemon, phones, waits, audio checks, SIP messages. No test module
imports another test module; they import from here."""
