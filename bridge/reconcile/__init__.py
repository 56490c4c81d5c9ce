"""Reconciliation with Alertmanager: converge on what `GET /api/v2/alerts` lists.

Alertmanager never sends the resolve of a silenced or inhibited alert (its issue 226)
and cuts webhooks at `max_alerts` without sending the rest later, so the bridge reads
every Alertmanager's alerts each BRIDGE_RECONCILE_INTERVAL and converges:

- fetch.py: the HTTP calls and parsing of the answers (pure parsers, I/O at the edge);
- decide.py: the pure decision of one round (resolves with reasons, alerts to ingest);
- rows.py: the database side (lease, observations, the bridge's firing alerts);
- job.py: one round, run by the delivery side's scheduler.
"""
