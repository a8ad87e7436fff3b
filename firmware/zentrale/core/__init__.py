"""Pure domain: mode documents, flow engine, queues, manual control, events.

No sockets, no files, no clock reads: time comes from an injected ``Clock``.
"""
