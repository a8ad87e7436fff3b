"""Caller names from the office's phonebooks: the FRITZ!Box (TR-064), a CardDAV address
book and a CSV upload, cached in SQLite and looked up in memory when a call comes in
(``docs/phonebook.md``)."""
