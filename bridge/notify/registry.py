"""Pick each channel's notifier from the settings: real when configured, dry-run otherwise."""

from __future__ import annotations

from typing import Protocol

from bridge.clock import Clock, utcnow
from bridge.notify.dryrun import DryRunNotifier
from bridge.notify.pagerduty import PagerDutyNotifier
from bridge.notify.result import Outcome
from bridge.notify.slack import SlackNotifier, SlackWebhookNotifier
from bridge.notify.view import LinkBase
from bridge.routing import PAGERDUTY, SLACK
from bridge.settings import Settings
from bridge.store.outbox import Job


class Notifier(Protocol):
    channel: str

    def send(self, job: Job) -> Outcome: ...


def link_base(settings: Settings) -> LinkBase:
    return LinkBase(
        grafana_url=settings.grafana_url,
        alertmanager_url=settings.alertmanager_external_url,
        runbook_base_url=settings.runbook_base_url,
        public_url=settings.public_url,
    )


def build_notifiers(settings: Settings, clock: Clock = utcnow) -> dict[str, Notifier]:
    links = link_base(settings)
    notifiers: dict[str, Notifier] = {}
    if settings.pagerduty_routing_key:
        notifiers[PAGERDUTY] = PagerDutyNotifier(
            settings.pagerduty_routing_key,
            settings.pagerduty_events_url,
            links,
            settings.ca_bundle,
        )
    else:
        notifiers[PAGERDUTY] = DryRunNotifier(PAGERDUTY, "BRIDGE_PAGERDUTY_ROUTING_KEY unset")
    if settings.slack_bot_token and settings.slack_channel:
        notifiers[SLACK] = SlackNotifier(
            settings.slack_bot_token,
            settings.slack_channel,
            settings.slack_api_url,
            links,
            settings.ca_bundle,
            clock,
            # Buttons only when their clicks can be verified (no secret: links only).
            interactive=bool(settings.slack_signing_secret),
        )
    elif settings.slack_webhook_url:
        notifiers[SLACK] = SlackWebhookNotifier(
            settings.slack_webhook_url, links, settings.ca_bundle
        )
    else:
        notifiers[SLACK] = DryRunNotifier(
            SLACK, "BRIDGE_SLACK_BOT_TOKEN/BRIDGE_SLACK_CHANNEL unset"
        )
    return notifiers
