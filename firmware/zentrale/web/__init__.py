"""The HTTP side: the JSON API (documented at /openapi.json) and, later, the web page."""
