"""Maintenance windows: validation, matching, recurrence, Alertmanager sync."""
