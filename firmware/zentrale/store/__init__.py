"""SQLite repositories and migrations; the only package that imports sqlite3.

All database work runs on one dedicated thread so an fsync on a slow SD
card never stalls the event loop or the media clock.
"""
