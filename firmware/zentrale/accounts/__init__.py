"""People who use the web page: accounts with roles, passwords, sessions,
login throttling, the first-run set-up token and the API token for local tools."""
