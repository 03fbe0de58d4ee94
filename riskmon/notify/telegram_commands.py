"""Bot commands: read-only views of the monitors' last evaluations, mutes, and a confirmed /flatten and /resume.

Only chats listed in TELEGRAM_CHAT_ID are answered; /flatten, /resume and their confirmations also need a
user in TELEGRAM_ADMIN_IDS, and the confirmation must come from the admin who asked, within ``confirm_s``.
Anything else is logged and ignored: no reply, no data.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Protocol

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import ExtBot

from riskmon.chart import chart_title, day_chart, png
from riskmon.clock import Clock
from riskmon.monitor import AccountMonitor
from riskmon.notify import telegram_format as fmt
from riskmon.notify.telegram_store import Journal
from riskmon.offloop import render_off_loop
from riskmon.view import ReadModel, View

log = logging.getLogger(__name__)

ADMIN_ACTIONS = ("flatten", "resume")  # a confirmation button's data is "<action>:<nonce>"
MAX_MUTE_MINUTES = 24 * 60

Monitors = Callable[[], Mapping[str, AccountMonitor]]


ADMIN_ONLY = frozenset({*ADMIN_ACTIONS, "mute"})  # they act on the account or silence its warnings


class FlattenHandler(Protocol):
    """What /flatten and /resume call once confirmed (the enforcer). Each returns a one-line outcome."""

    async def flatten(self, account: str, requested_by: str) -> str: ...

    async def resume(self, account: str, requested_by: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Access:
    chat_ids: frozenset[str]
    admin_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Pending:
    action: str  # flatten | resume
    account: str
    user_id: str
    chat_id: str
    expires: datetime


class Commands:
    def __init__(
        self,
        bot: ExtBot[int],
        monitors: Monitors,
        journal: Journal,
        access: Access,
        clock: Clock,
        flattener: FlattenHandler | None = None,
        confirm_s: int = 60,
        views: Callable[[], View] | None = None,
    ) -> None:
        self.bot = bot
        self.monitors = monitors
        # The read model (``/status``): captured on the loop, rendered in a worker thread.
        self.views = views or (lambda: ReadModel(self.monitors().values(), clock=clock).capture())
        self.journal = journal
        self.access = access
        self.clock = clock
        self.flattener = flattener
        self.confirm_s = confirm_s
        self._pending: dict[str, _Pending] = {}

    async def handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._confirm(update.callback_query)
        elif update.message is not None and update.message.text and update.message.text.startswith("/"):
            await self._command(update.message)

    # -- commands -------------------------------------------------------------------------------

    async def _command(self, message: Message) -> None:
        chat_id = str(message.chat.id)
        user_id = str(message.from_user.id) if message.from_user else ""
        words = (message.text or "").split()
        name, args = words[0][1:].split("@", 1)[0].lower(), words[1:]
        if chat_id not in self.access.chat_ids:
            log.warning("telegram: ignored /%s from user %s in chat %s (chat not allowed)", name, user_id, chat_id)
            return
        if name in ADMIN_ONLY and user_id not in self.access.admin_ids:
            log.warning("telegram: ignored /%s from user %s in chat %s (not an admin)", name, user_id, chat_id)
            return
        if name in ADMIN_ACTIONS:
            await self._ask(name, chat_id, user_id, args)
            return
        if name == "status":
            view = self.views()
            # Rendered and cut to Telegram's limit off the loop: 10,000 accounts make a megabyte of lines.
            await self._reply(chat_id, await render_off_loop(lambda: fmt.fit(fmt.status_html(view.accounts))))
            return
        if name == "chart":
            await self._chart(chat_id, args)
            return
        await self._reply(chat_id, self._answer(name, args))

    def _answer(self, name: str, args: list[str]) -> str:
        monitors = self.monitors()
        match name:
            case "accounts":
                return fmt.accounts_html(monitors.values())
            case "positions" | "limits":
                monitor = self._account(args)
                if monitor is None:
                    return f"Usage: /{name} &lt;account&gt; (one of: {self._names()})"
                if monitor.last is None:
                    return f"{escape(monitor.profile.name)}: waiting for data"
                return fmt.positions_html(monitor.last) if name == "positions" else fmt.limits_html(monitor.last)
            case "mute":
                return self._mute(args)
            case "unmute":
                return self._unmute(args)
            case _:
                return fmt.HELP_HTML

    def _mute(self, args: list[str]) -> str:
        monitor = self._account(args[:1])
        if monitor is None or len(args) != 2 or not args[1].isdigit() or not 0 < int(args[1]) <= MAX_MUTE_MINUTES:
            return f"Usage: /mute &lt;account&gt; &lt;minutes, 1-{MAX_MUTE_MINUTES}&gt; (accounts: {self._names()})"
        until = self.clock.now() + timedelta(minutes=int(args[1]))
        self.journal.mute(monitor.profile.account, until)
        return f"🔕 {escape(monitor.profile.name)}: warnings muted until {until:%H:%M} UTC. Critical alerts still come."

    def _unmute(self, args: list[str]) -> str:
        if not args:
            count = self.journal.unmute()
            return f"🔔 {count} mute(s) ended."
        monitor = self._account(args)
        if monitor is None:
            return f"Usage: /unmute [account] (accounts: {self._names()})"
        self.journal.unmute(monitor.profile.account)
        return f"🔔 {escape(monitor.profile.name)}: alerts on."

    def _account(self, args: list[str]) -> AccountMonitor | None:
        if not args:
            return None
        wanted = args[0].lower()
        for monitor in self.monitors().values():
            if wanted in (monitor.profile.account.lower(), monitor.profile.label.lower()):
                return monitor
        return None

    def _names(self) -> str:
        return ", ".join(escape(a) for a in self.monitors()) or "none"

    # -- flatten and resume: asked by an admin, confirmed by the same admin with a button ---------------

    async def _ask(self, action: str, chat_id: str, user_id: str, args: list[str]) -> None:
        monitor = self._account(args)
        if monitor is None:
            await self._reply(chat_id, f"Usage: /{action} &lt;account&gt; (one of: {self._names()})")
            return
        if self.flattener is None:
            await self._reply(chat_id, f"{action.capitalize()} is not available: no enforcer is configured.")
            return
        now = self.clock.now()
        self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
        nonce = secrets.token_hex(8)
        self._pending[nonce] = _Pending(
            action, monitor.profile.account, user_id, chat_id, now + timedelta(seconds=self.confirm_s)
        )
        if action == "flatten":
            positions = len(monitor.last.snapshot.positions) if monitor.last else 0
            prompt = fmt.flatten_prompt_html(monitor.profile.name, positions, self.confirm_s)
        else:
            prompt = fmt.resume_prompt_html(monitor.profile.name, self.confirm_s)
        button = InlineKeyboardButton(f"Confirm {action}", callback_data=f"{action}:{nonce}")
        await self.bot.send_message(
            chat_id, prompt, parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup([[button]])
        )
        log.info(
            "telegram: %s of %s requested by user %s; waiting for confirmation", action, monitor.profile.name, user_id
        )

    async def _confirm(self, query: CallbackQuery) -> None:
        user_id = str(query.from_user.id)
        chat_id = str(query.message.chat.id) if query.message is not None else ""
        asked, _, nonce = (query.data or "").partition(":")
        action = asked if asked in ADMIN_ACTIONS else "flatten"
        if chat_id not in self.access.chat_ids or user_id not in self.access.admin_ids or query.message is None:
            log.warning(
                "telegram: ignored a %s confirmation from user %s in chat %s (not allowed)", action, user_id, chat_id
            )
            return
        pending = self._pending.get(nonce)
        if pending is not None and (pending.user_id != user_id or pending.chat_id != chat_id):
            log.warning(
                "telegram: ignored user %s confirming the %s user %s asked for", user_id, action, pending.user_id
            )
            return
        self._pending.pop(nonce, None)
        if pending is not None and pending.action != action:
            pending = None  # a button of another kind cannot confirm this request
        if pending is None or self.flattener is None:  # already used, or asked before a restart
            await query.answer(f"This confirmation is no longer valid; send /{action} again.")
            return
        message_id = query.message.message_id
        title = action.capitalize()
        if pending.expires <= self.clock.now():
            await query.answer(f"This confirmation has expired; send /{action} again.")
            await self.bot.edit_message_text(f"{title} not confirmed in time; nothing was done.", chat_id, message_id)
            return
        await query.answer("Flattening…" if action == "flatten" else "Lifting the halt…")
        log.warning("telegram: user %s confirmed %s of %s", user_id, action, pending.account)
        handler = self.flattener.flatten if action == "flatten" else self.flattener.resume
        try:
            outcome = await handler(pending.account, f"telegram user {user_id}")
        except Exception as exc:
            log.error("telegram: %s of %s failed (%s: %s)", action, pending.account, type(exc).__name__, exc)
            outcome = f"FAILED ({type(exc).__name__}: {exc}). Check the account now."
        await self.bot.edit_message_text(
            f"{title} {escape(pending.account)}: {escape(outcome)}", chat_id, message_id, parse_mode=ParseMode.HTML
        )

    async def _chart(self, chat_id: str, args: list[str]) -> None:
        """Today's equity against the floors, from the read model, drawn in a worker thread."""
        monitor = self._account(args)
        if monitor is None:
            await self._reply(chat_id, f"Usage: /chart &lt;account&gt; (one of: {self._names()})")
            return
        account = self.views().find(monitor.profile.account)
        start = None if account is None else account.day_start
        chart = None if account is None or start is None else day_chart(account.equity_today, start)
        if account is None or chart is None or account.trading_day is None:
            await self._reply(chat_id, f"{escape(monitor.profile.name)}: no equity recorded today yet")
            return
        title = chart_title(account.name, account.trading_day)
        image = await render_off_loop(png, chart, fmt.clip(title, 80))
        await self.bot.send_photo(chat_id, image, caption=escape(fmt.clip(title)), parse_mode=ParseMode.HTML)

    async def _reply(self, chat_id: str, html: str) -> None:
        await self.bot.send_message(chat_id, fmt.fit(html), parse_mode=ParseMode.HTML)
