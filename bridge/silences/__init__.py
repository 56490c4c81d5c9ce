"""Maintenance windows: validation, matching, recurrence, Alertmanager sync.

One word per concept, here and everywhere in the bridge:
- a *window* is the bridge's own object (stored, may recur, made through `/silences` and
  `alert-bridge silence`: those two names are the public contract and stay);
- a *silence* is only ever Alertmanager's object, which a window creates and expires;
- an alert a window held back is *suppressed* (`suppressed_by` names the window).
"""
