"""Interactivity: what people do in Slack and PagerDuty, carried back into the bridge."""
