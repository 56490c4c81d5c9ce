"""Channel summaries: what happened over a period, posted to Slack on a schedule or on demand.

facts.py reads the period from the database, build.py turns it into Block Kit (pure),
send.py posts it, job.py runs each scheduled slot once across replicas, cli.py is
`alert-bridge digest`.
"""
