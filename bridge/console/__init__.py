"""The web console for people: server-rendered HTML pages under `/` (see routes.py)."""
