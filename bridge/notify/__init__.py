"""Notifiers: one module per vendor, each returning an explicit `Outcome`."""
