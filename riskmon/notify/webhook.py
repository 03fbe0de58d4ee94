"""Discord webhooks and a generic JSON webhook: two more channels on the delivery core (``dispatch``).

Both POST JSON over HTTPS with the same outbox, retries, quiet hours, cooldown and no-loss guarantees as
Telegram. The webhook URLs are secrets (Discord's carries its token): they are settings (``SecretStr``),
never a destination name in the outbox, and never in a log line or an error.

- **Discord** (``DISCORD_WEBHOOK_URL``): ``{"content": ...}``, Discord markdown with every outside text
  escaped, within Discord's 2,000 characters; mentions are disabled (a label cannot ping ``@everyone``).
- **JSON webhook** (``WEBHOOK_URL``, ``WEBHOOK_SECRET``): for firm back offices and Slack-compatible
  receivers. The body is ``{"version": 1, "type": "alert", "text": ..., "events": [...]}`` (``text`` is
  what Slack shows). Each request is signed: ``X-Riskmon-Timestamp`` (Unix seconds) and
  ``X-Riskmon-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with WEBHOOK_SECRET>``;
  a receiver recomputes it, compares in constant time and refuses old timestamps (replays).

What a failure means (``judge``): 429 waits for ``Retry-After`` (Discord: ``retry_after`` in the body),
capped; 5xx, 408 and network errors are retried with backoff; any other 4xx is permanent (a deleted
webhook, a refused body): the row is marked failed and logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import httpx
from pydantic import SecretStr

from riskmon.backoff import Backoff
from riskmon.clock import Clock
from riskmon.config import Settings
from riskmon.logs import RedactSecrets
from riskmon.models import AlertEvent, AlertStatus, Severity
from riskmon.monitor import Evaluation
from riskmon.notify.dispatch import Dispatcher
from riskmon.notify.format import event_record, num, rule_name, share
from riskmon.notify.policy import AlertPolicy
from riskmon.notify.sender import DEFAULT_BACKOFF, Verdict
from riskmon.store import Store

log = logging.getLogger(__name__)

DISCORD_MAX = 2000  # Discord's limit on a message's content
PAYLOAD_VERSION = 1
SIGNATURE = "X-Riskmon-Signature"
TIMESTAMP = "X-Riskmon-Timestamp"
_ICON = {Severity.OK: "🟢", Severity.INFO: "🔵", Severity.WARNING: "🟠", Severity.CRITICAL: "🔴"}
GROUP_NAMES = 20


def _escape_markdown(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "\\*_~`|>#[]()-@:" else ch for ch in text)


def alert_text(event: AlertEvent, escape: Callable[[str], str] = lambda s: s) -> str:
    """One alert as plain text (``escape`` makes outside text safe for the receiver's markup)."""
    who = escape(event.label or event.account)
    rule = escape(rule_name(event.rule))
    if event.status is AlertStatus.RESOLVED:
        head = f"✅ RESOLVED · {rule} — {who}"
    else:
        change = "" if event.status is AlertStatus.FIRING else f" ({event.status.value})"
        head = f"{_ICON[event.severity]} {event.severity.value.upper()}{change} · {rule} — {who}"
    lines = [head, escape(event.message), f"Observed {num(event.observed)} vs limit {num(event.limit)}"]
    if event.room_left is not None:
        lines.append(f"Room left before the floor: {num(event.room_left)}")
    if event.used is not None:
        lines.append(f"Limit used: {share(event.used)}")
    if event.action:
        lines.append(f"Action: {escape(event.action)}")
    lines.append(f"{event.ts:%Y-%m-%d %H:%M:%S} UTC · {escape(event.account)}")
    return "\n".join(lines)


def group_text(events: Sequence[AlertEvent], escape: Callable[[str], str] = lambda s: s) -> str:
    first = events[0]
    names = ", ".join(escape(e.label or e.account) for e in events[:GROUP_NAMES])
    more = f" and {len(events) - GROUP_NAMES:,} more" if len(events) > GROUP_NAMES else ""
    state = "RESOLVED" if first.status is AlertStatus.RESOLVED else first.severity.value.upper()
    return (
        f"{_ICON[first.severity]} {state} · {escape(rule_name(first.rule))} — {len(events):,} accounts\n"
        f"{names}{more}\ne.g. {escape(first.message)}"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_document(event: AlertEvent) -> dict[str, Any]:
    """An alert for machines: the replay contract's fields, the exact status, and the figures (decimal strings)."""
    return {
        **event_record(event),
        "change": event.status.value,
        "label": event.label,
        "unit": event.unit,
        "room_left": None if event.room_left is None else str(event.room_left),
        "used": None if event.used is None else str(event.used),
        "action": event.action,
    }


class WebhookChannel:
    """One webhook: how an alert looks there and how one message is sent (the dispatcher does the rest)."""

    def __init__(
        self,
        name: str,
        url: SecretStr,
        client: httpx.AsyncClient,
        secret: SecretStr | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.destinations: Sequence[str] = (name,)  # the URL is a secret: never a destination name
        self._url = url
        self._client = client
        self._secret = None if secret is None else secret.get_secret_value().encode()
        self._clock = clock

    def render(self, event: AlertEvent) -> str:
        if self.name == "discord":
            return _discord(alert_text(event, _escape_markdown))
        return _document("alert", alert_text(event), [event])

    def render_group(self, events: Sequence[AlertEvent]) -> str:
        if self.name == "discord":
            return _discord(group_text(events, _escape_markdown))
        return _document("alerts", group_text(events), events)

    def sign(self, body: bytes) -> dict[str, str]:
        if self._secret is None:
            return {}
        stamp = str(int(self._clock()))
        digest = hmac.new(self._secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {TIMESTAMP: stamp, SIGNATURE: f"sha256={digest}"}

    async def send(self, destination: str, text: str) -> int | None:
        body = text.encode()
        headers = {"Content-Type": "application/json", **self.sign(body)}
        response = await self._client.post(self._url.get_secret_value(), content=body, headers=headers)
        response.raise_for_status()
        return None

    @property
    def secrets(self) -> list[str]:
        """What must never be logged: the URL (and the signing key)."""
        return [self._url.get_secret_value(), *(() if self._secret is None else (self._secret.decode(),))]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


def _discord(text: str) -> str:
    return json.dumps({"content": _clip(text, DISCORD_MAX), "allowed_mentions": {"parse": []}}, ensure_ascii=False)


def _document(kind: str, text: str, events: Sequence[AlertEvent]) -> str:
    doc = {"version": PAYLOAD_VERSION, "type": kind, "text": text, "events": [event_document(e) for e in events]}
    return json.dumps(doc, ensure_ascii=False)


def judge(exc: Exception) -> Verdict:
    """What a failed POST means. The reason never carries the URL (it holds the webhook's token)."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        status = response.status_code
        reason = f"HTTP {status}"
        if status == 429:
            return Verdict(False, _retry_after(response), reason)
        if status >= 500 or status == 408:
            return Verdict(False, None, reason)
        return Verdict(True, None, f"{reason}: the webhook refused the message")
    return Verdict(False, None, type(exc).__name__)


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    try:
        if header is not None:
            return max(float(header), 0.0)
        body = response.json()
        return max(float(body["retry_after"]), 0.0) if isinstance(body, dict) and "retry_after" in body else None
    except (ValueError, KeyError, TypeError):
        return None


class WebhookNotifier:
    """Observer and component: alerts → this webhook's outbox rows; ``run`` delivers them."""

    def __init__(
        self,
        channel: WebhookChannel,
        store: Store,
        clock: Clock,
        policy: AlertPolicy,
        day_of: Callable[[AlertEvent], date | None],
        client: httpx.AsyncClient,
        on_failure: Callable[[], None] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.channel = channel
        self.client = client
        self.dispatch = Dispatcher(
            store, channel, channel.send, judge, clock, channel.scrub, policy, day_of, backoff, on_failure
        )
        for name in ("httpx", "httpcore"):  # their request lines carry the URL
            logging.getLogger(name).addFilter(RedactSecrets(channel.secrets))

    def observe(self, evaluation: Evaluation) -> None:
        if evaluation.events:
            day = evaluation.state.trading_day or evaluation.profile.calendar.day_of(evaluation.snapshot.ts)
            self.dispatch.queue(evaluation.events, day)
        elif self.dispatch.held:
            self.dispatch.write_held()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.dispatch.notify(events)

    async def run(self) -> None:
        log.info("%s: alerts go to the configured webhook", self.channel.name)
        await self.dispatch.sender.run()

    async def aclose(self) -> None:
        self.dispatch.settle()
        try:
            await self.dispatch.drain()
        except Exception as exc:
            log.warning("%s: outbox not flushed at shutdown (%s); sent on the next start", self.channel.name,
                        self.channel.scrub(repr(exc)))  # fmt: skip
        finally:
            await self.client.aclose()


def build_webhooks(
    settings: Settings,
    store: Store,
    clock: Clock,
    policy: AlertPolicy,
    day_of: Callable[[AlertEvent], date | None],
    on_failure: Callable[[str], None] | None = None,
) -> list[WebhookNotifier]:
    """A notifier for each webhook the settings name (``Settings`` checked the URLs and the signing key)."""
    wanted = [
        ("discord", settings.discord_webhook_url, None),
        ("webhook", settings.webhook_url, settings.webhook_secret),
    ]
    notifiers = []
    for name, url, secret in wanted:
        if url is None:
            continue
        client = httpx.AsyncClient(timeout=settings.telegram_timeout, trust_env=False, follow_redirects=False)
        channel = WebhookChannel(name, url, client, secret)
        failed = None if on_failure is None else (lambda channel_name=name: on_failure(channel_name))
        notifiers.append(WebhookNotifier(channel, store, clock, policy, day_of, client, failed))
    return notifiers
