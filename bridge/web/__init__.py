"""HTTP blueprints: webhook, alerts, health, metrics, OpenAPI."""
