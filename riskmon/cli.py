"""The `riskmon` command line."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from riskmon import logs
from riskmon.app import App, build_app
from riskmon.config import AppConfig, Settings, load_config, load_settings
from riskmon.enforce.audit import open_read_only, write_csv, write_jsonl
from riskmon.enforce.journal import audited_accounts, read_entries
from riskmon.enforce.manual import acknowledge_failure, flatten_once, resume_once
from riskmon.errors import ConfigError, ExitCode, PlatformUnavailable, ReplayError, RiskmonError, StoreLockedError
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor
from riskmon.notify.console import account_table
from riskmon.notify.format import event_line, event_record
from riskmon.offloop import render_off_loop
from riskmon.platforms.ctrader.plugin import CTRADER, token_path, token_store
from riskmon.platforms.registry import PLATFORMS
from riskmon.platforms.replay import BadLine, Recorder, read_records, snapshot_to_record, wrapped_json_hint
from riskmon.profile import AccountProfile
from riskmon.rules import describe_rules
from riskmon.rules.presets import PRESETS
from riskmon.service import (
    Platform,
    SignalHook,
    build_platforms,
    default_signals,
    loop_signals,
    portable_signals,
    serve,
)
from riskmon.shard import parse_shard
from riskmon.store import MEMORY, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

app = typer.Typer(
    help="Prop-firm risk monitor: watches MT5, cTrader, ProjectX and TradeLocker accounts against your firm's limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: `[[accounts]]` must not be read as markup
)


def _env_file_exists(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    """The default .env may be absent; a file named on the command line (or by variable) must exist."""
    source = ctx.get_parameter_source(param.name or "")
    if source is not None and source.name != "DEFAULT" and not value.exists():
        with clear_errors():
            raise ConfigError("--env-file", "no such file", value=str(value))
    return value


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"riskmon {package_version('riskmon')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """Prop-firm risk monitor: watches MT5, cTrader, ProjectX and TradeLocker accounts against your firm's limits."""


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="riskmon.toml with [[accounts]] (default: RISKMON_CONFIG)")
]
EnvOption = Annotated[
    Path, typer.Option("--env-file", help="Environment file to read settings from.", callback=_env_file_exists)
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Refuse unknown settings instead of warning (for services and images).")
]


class ReplayFormat(StrEnum):
    jsonl = "jsonl"
    table = "table"


class SignalMode(StrEnum):
    auto = "auto"  # the platform's way
    loop = "loop"  # the event loop's handlers (POSIX)
    portable = "portable"  # signal.signal (what Windows uses)


SIGNAL_HOOKS: dict[SignalMode, SignalHook] = {SignalMode.loop: loop_signals, SignalMode.portable: portable_signals}


class AuditFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@contextmanager
def clear_errors() -> Iterator[None]:
    """Any deliberate riskmon error ends the command with its one line and its exit code, never a traceback."""
    try:
        yield
    except RiskmonError as exc:
        typer.echo(f"riskmon: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def _load(env_file: Path, config: Path | None, strict: bool = False) -> AppConfig:
    """The configuration, logging set up, and each warning (e.g. an unknown setting) logged once."""
    app_config = load_config(env_file, config, strict=strict)
    settings = app_config.settings
    logs.configure(settings.log_format, settings.log_level, settings.secret_values())
    for warning in app_config.warnings:
        log.warning("%s", warning)
    return app_config


def _load_settings(env_file: Path) -> Settings:
    """The settings for a command that needs no account (one may not be configured yet), logging set up."""
    settings = load_settings(env_file)
    logs.configure(settings.log_format, settings.log_level, settings.secret_values())
    return settings


def _announce(app_config: AppConfig) -> None:
    """Start-up: the simulator banner, each variable overriding a preset, each account's limits and sources."""
    for notice in app_config.notices:
        log.warning("%s", notice)
    for profile in app_config.profiles:
        log.info("limits %s", app_config.limits(profile.account))


@app.command()
def run(
    config: ConfigOption = None,
    env_file: EnvOption = Path(".env"),
    record: Annotated[
        Path | None, typer.Option(help="Append every snapshot to this file as JSON Lines (the replay format).")
    ] = None,
    table: Annotated[bool, typer.Option(help="Show the live account table (off when not a terminal).")] = True,
    strict: StrictOption = False,
    signals: Annotated[
        SignalMode, typer.Option(hidden=True, help="How Ctrl+C / SIGTERM are caught (tests run Windows' way on Linux).")
    ] = SignalMode.auto,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Monitor only this shard's accounts: I/N (0 <= I < N), or auto (a StatefulSet pod's ordinal, "
            "N from RISKMON_SHARDS); default RISKMON_SHARD. Each shard needs its own database and metrics port.",
        ),
    ] = None,
) -> None:
    """Monitor every configured account until Ctrl+C (the simulator when nothing is configured)."""
    with clear_errors():
        app_config = _load(env_file, config, strict)
        settings = app_config.settings
        given = shard or settings.riskmon_shard
        if given is not None:
            part = parse_shard(given, settings.riskmon_shards, "--shard" if shard else "RISKMON_SHARD")
            app_config = app_config.only(part.owns)
            log.info("shard %s: %d of the configured accounts are this shard's", part, len(app_config.accounts))
        console = Console()
        with ExitStack() as stack:
            recorder = stack.enter_context(closing(Recorder(record))) if record else None
            store = stack.enter_context(closing(Store(app_config.settings.db_path)))
            _announce(app_config)  # once the files it needs are open: a refusal stays one line
            app_ = build_app(app_config, store, console, tap=recorder.write if recorder else None)
            hook = SIGNAL_HOOKS.get(signals) or default_signals()
            with asyncio.Runner(loop_factory=event_loop_factory(settings.riskmon_uvloop)) as runner:
                runner.run(_serve(app_, console, table and console.is_terminal, hook))


def event_loop_factory(wanted: bool = True) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when the ``fast`` extra installed it (and RISKMON_UVLOOP is not false); else asyncio's own.
    Behaviour is the same with either: uvloop only spends less CPU on scheduling and sockets."""
    if not wanted or sys.platform == "win32":
        return None
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(app_: App, console: Console, show_table: bool, signals: SignalHook) -> None:
    if app_.exporter is None:
        await _run_service(app_, console, show_table, signals)
        return
    async with app_.exporter:
        await _run_service(app_, console, show_table, signals)


async def _run_service(app_: App, console: Console, show_table: bool, signals: SignalHook) -> None:
    if not show_table:
        await serve(app_.service, signals=signals)
        return

    async def table() -> Table:
        """Captured on the loop (cheap), laid out in a worker thread (10,000 rows never hold the loop)."""
        view = app_.model.capture()
        return await render_off_loop(account_table, view.accounts, console.width, console.height)

    # Log lines on the same terminal go through the table's console, above it; a log file stays a log file.
    with Live(await table(), console=console, refresh_per_second=4, redirect_stderr=sys.stderr.isatty()) as live:
        task = asyncio.create_task(serve(app_.service, signals=signals))
        while not task.done():
            live.update(await table())
            await asyncio.wait({task}, timeout=0.25)
        await task


@app.command()
def check(
    config: ConfigOption = None,
    env_file: EnvOption = Path(".env"),
    as_json: Annotated[bool, typer.Option("--json", help="Print snapshots in the replay format.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each platform.")] = 20.0,
    strict: StrictOption = False,
) -> None:
    """Connect once, print one snapshot per account, exit non-zero if a platform cannot be reached."""
    with clear_errors():
        app_config = _load(env_file, config, strict)
        with _platform_problems(app_config.settings.secret_values()) as problems:
            snapshots = asyncio.run(_first_snapshots(build_platforms(app_config), timeout, problems))
        for snap in snapshots:
            if as_json:
                typer.echo(json.dumps(snapshot_to_record(snap)))
            else:
                typer.echo(
                    f"{snap.account} [{snap.platform}] balance {snap.balance} {snap.currency}, equity {snap.equity}, "
                    f"margin {snap.margin}, {len(snap.positions)} positions, {len(snap.orders)} orders at {snap.ts}"
                )


class _Problems(logging.Handler):
    """The warnings and errors platforms log while `check` waits: the cause of a silence, for its one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # the cause alone when the platform gives it (without its "reconnecting ...": check does not retry)
        self.messages.append(str(getattr(record, "cause", record.getMessage())))

    def cause(self, accounts: Sequence[str]) -> str:
        mine = [m for m in self.messages if any(a in m for a in accounts)] or self.messages
        return f" (last error: {mine[-1]})" if mine else ""


@contextmanager
def _platform_problems(secrets: Sequence[str]) -> Iterator[_Problems]:
    handler = _Problems()
    handler.addFilter(logs.RedactSecrets(secrets))
    platforms_log = logging.getLogger("riskmon.platforms")
    platforms_log.addHandler(handler)
    platforms_log.propagate = False  # their warnings end in check's one line, not on stderr as well
    try:
        yield handler
    finally:
        platforms_log.propagate = True
        platforms_log.removeHandler(handler)


async def _first_snapshots(
    platforms: list[Platform], wait_s: float, problems: _Problems | None = None
) -> list[AccountSnapshot]:
    async def first(platform: Platform) -> list[AccountSnapshot]:
        seen: dict[str, AccountSnapshot] = {}
        stream = platform.feed.snapshots()
        try:
            async with asyncio.timeout(wait_s):
                async for snap in stream:
                    if snap.account in platform.accounts:
                        seen.setdefault(snap.account, snap)
                    if len(seen) == len(platform.accounts):
                        break
        except TimeoutError:
            missing = [a for a in platform.accounts if a not in seen]
            cause = problems.cause(missing) if problems else ""
            raise PlatformUnavailable(
                f"{platform.name}: no data for {', '.join(missing)} within {wait_s:.0f} s{cause}"
            ) from None
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return [seen[a] for a in platform.accounts]

    try:
        results = await asyncio.gather(*(first(p) for p in platforms))
    finally:
        await asyncio.gather(*(p.feed.aclose() for p in platforms), return_exceptions=True)
    return [snap for group in results for snap in group]


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="JSON Lines of snapshots ('-' for stdin).", allow_dash=True)],
    config: ConfigOption = None,
    preset: Annotated[str, typer.Option(help="Rulebook for accounts not in --config.")] = "basic",
    initial_balance: Annotated[Decimal | None, typer.Option(help="Initial balance for --preset.")] = None,
    fmt: Annotated[ReplayFormat, typer.Option("--format", help="jsonl: one alert event per line.")] = (
        ReplayFormat.jsonl
    ),
) -> None:
    """Feed a recorded day through the same engine as `run` and print every alert event.

    Starts from a clean in-memory state: the service's database is never read or written.
    """
    with clear_errors():
        profiles = {p.account: p for p in load_config(None, config).profiles} if config else {}
        if preset not in PRESETS:
            raise ConfigError("--preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        rulebook = PRESETS[preset].rulebook()
        initial = initial_balance or PRESETS[preset].initial_balance
        if rulebook.needs_initial_balance and initial is None and not profiles:
            raise ConfigError("--initial-balance", f"required by preset {preset}")
        store = Store(MEMORY)
        monitors: dict[str, AccountMonitor] = {}
        try:
            stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(file), f"cannot read: {exc.strerror}") from None
        bad: list[BadLine] = []
        evaluated = 0
        with stream:
            for item in read_records(stream):
                if isinstance(item, BadLine):
                    typer.echo(f"{file}: line {item.number}: {item.reason} (skipped)", err=True)
                    bad.append(item)
                    continue
                monitor = monitors.get(item.account)
                if monitor is None:
                    profile = profiles.get(item.account) or AccountProfile(
                        item.account, rulebook, initial_balance=initial
                    )
                    # No table, metrics or daily summary: the gate stands until a verdict may change or the day resets.
                    monitor = monitors[item.account] = AccountMonitor(
                        profile, store, refresh=timedelta(days=1), day_lows=False
                    )
                evaluation = monitor.process(item)
                evaluated += evaluation is not None
                for event in evaluation.events if evaluation else ():
                    typer.echo(json.dumps(event_record(event)) if fmt is ReplayFormat.jsonl else event_line(event))
        if not monitors and bad:
            raise ReplayError(f"{file}: none of its {len(bad)} lines is a valid snapshot{wrapped_json_hint(bad)}")
        if not monitors:
            raise ReplayError(f"{file}: no snapshot to replay (the file is empty)")
        evaluated += sum(monitor.steady for monitor in monitors.values())  # judged by the fast path
        refused: Counter[str] = Counter()
        for monitor in monitors.values():
            refused.update(monitor.refused)
        typer.echo(f"{file}: {_replay_summary(evaluated, len(bad), refused)}", err=True)
        if bad or refused:
            raise typer.Exit(ExitCode.INCOMPLETE)


def _replay_summary(evaluated: int, skipped: int, refused: Counter[str]) -> str:
    """What a replay did with its lines, in one line: a replay that left data out must say so."""
    why = ", ".join(f"{count} {reason}" for reason, count in sorted(refused.items()))
    total = sum(refused.values())
    text = f"{evaluated} snapshot(s) evaluated, {skipped} malformed line(s) skipped, {total} snapshot(s) refused"
    return text + (f" ({why})" if why else "") + ("" if skipped or total else ": complete")


@app.command()
def flatten(
    account: Annotated[str, typer.Argument(help="Account id or label.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; send nothing.")] = False,
    config: ConfigOption = None,
    env_file: EnvOption = Path(".env"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the platform and the confirmation.")] = 30.0,
) -> None:
    """Close every position and cancel every order now, and halt the account until the next reset.

    Acts whatever the account's enforce mode. Needs the state database: stop `riskmon run` first
    (while it runs, use Telegram's /flatten, which goes through the same enforcer).
    """
    with clear_errors():
        app_config = _load(env_file, config)
        profile = app_config.profile(account)
        platform = next(p for p in build_platforms(app_config) if profile.account in p.accounts)
        with _state_for_a_person(app_config, "/flatten") as store:
            if not (yes or dry_run):
                typer.confirm(f"Close everything on {profile.name} and halt it until the next reset?", abort=True)
            line = _by_hand(store, app_config, profile, platform, flatten_once, dry_run=dry_run, wait_s=timeout)
        typer.echo(line)


@contextmanager
def _state_for_a_person(app_config: AppConfig, command: str | None) -> Iterator[Store]:
    """The state database for a flatten or resume at the terminal, opened before anything is asked. While
    `riskmon run` holds it, the way is through that process: a halt kept in another database is not enforced."""
    try:
        store = Store(app_config.settings.db_path)
    except StoreLockedError as exc:
        raise StoreLockedError(
            f"riskmon (pid {exc.holder}) is running on {app_config.settings.db_path}: "
            + (f"use Telegram's {command} (it goes through that riskmon), or " if command else "")
            + "stop it and run this again",
            exc.holder,
        ) from None
    with closing(store):
        yield store


def _by_hand(
    store: Store,
    app_config: AppConfig,
    profile: AccountProfile,
    platform: Platform,
    once: Callable[..., Coroutine[Any, Any, T]],
    **options: Any,
) -> T:
    """A flatten or resume asked for at the terminal: the account's enforcer, on its platform and the state
    database, as `riskmon run` would do it; enforcement events are printed on stderr as they happen."""
    return asyncio.run(
        once(
            profile,
            platform.feed,
            platform.trader,
            store,
            app_config.enforcement()[profile.account],
            requested_by=f"cli:{getpass.getuser()}",
            on_event=lambda event: typer.echo(event_line(event), err=True),
            **options,
        )
    )


@app.command()
def resume(
    account: Annotated[str, typer.Argument(help="Account id or label.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    env_file: EnvOption = Path(".env"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the platform.")] = 30.0,
) -> None:
    """Lift a halt (after `flatten` or an automatic flatten) so the account may trade again today.

    Refused while the automatic flatten would halt it again at once. Audited like a flatten. Needs the
    state database: stop `riskmon run` first (while it runs, use Telegram's /resume).
    """
    with clear_errors():
        app_config = _load(env_file, config)
        profile = app_config.profile(account)
        platform = next(p for p in build_platforms(app_config) if profile.account in p.accounts)
        with _state_for_a_person(app_config, "/resume") as store:
            if not yes:
                typer.confirm(f"Lift the halt on {profile.name} and allow trading again?", abort=True)
            trading, line = _by_hand(store, app_config, profile, platform, resume_once, wait_s=timeout)
        typer.echo(line)
        if not trading:
            raise typer.Exit(1)


@app.command()
def acknowledge(
    account: Annotated[str, typer.Argument(help="Account id or label.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    env_file: EnvOption = Path(".env"),
) -> None:
    """Acknowledge a failed account: riskmon keeps a hard breach (account failed) as failing, whatever equity
    does afterwards, until a person acknowledges it here. Audited. Needs the state database: stop `riskmon run`
    first. A halt stays until `riskmon resume` (or the next reset)."""
    with clear_errors():
        app_config = _load(env_file, config)
        profile = app_config.profile(account)
        with _state_for_a_person(app_config, None) as store:
            if not yes:
                typer.confirm(f"Acknowledge that {profile.name} failed and clear the breach riskmon keeps?", abort=True)
            done, line = acknowledge_failure(profile, store, f"cli:{getpass.getuser()}", datetime.now(UTC))
        typer.echo(line)
        if not done:
            raise typer.Exit(1)


def _instant(text: str) -> datetime:
    """An ISO 8601 date or time (with offset or ``Z``; none means UTC), as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-03-02 or 2026-03-02T10:00:00+00:00)"
        ) from None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(UTC)


@app.command()
def audit(
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="From this time: ISO 8601 as `audit` prints it (2026-03-02T10:00:00+00:00, ...Z) or a date "
            "(UTC midnight); without an offset it is UTC.",
            parser=_instant,
            metavar="TIME",
        ),
    ] = None,
    fmt: Annotated[AuditFormat, typer.Option("--format", help="jsonl or csv.")] = AuditFormat.jsonl,
    env_file: EnvOption = Path(".env"),
) -> None:
    """Print the enforcement audit trail: every decision, request, broker answer and verification."""
    with clear_errors():
        settings = _load_settings(env_file)
        with closing(open_read_only(settings.db_path)) as db:
            known = audited_accounts(db)
            if account is not None and account not in known:
                seen = ", ".join(known) or "none yet"
                typer.echo(
                    f"riskmon: no audit entries for account {account!r}; accounts with entries: {seen}", err=True
                )
                return
            entries = read_entries(db, account, since)
            (write_csv if fmt is AuditFormat.csv else write_jsonl)(entries, sys.stdout)


@app.command("ctrader-login")
def ctrader_login(
    redirect_uri: Annotated[
        str, typer.Option(help="The redirect URI registered for your Open API application.")
    ] = "http://127.0.0.1:8765/callback",
    code: Annotated[str | None, typer.Option(help="The code from the redirect (asked for when not given).")] = None,
    env_file: EnvOption = Path(".env"),
) -> None:
    """Get cTrader Open API tokens: open the printed URL, approve, paste the code from the redirect.

    The tokens are stored (mode 0600) where `riskmon run` reads them, and the accounts they open are
    listed: use either the account id or the trader login as ACCOUNT_ID.
    """
    from riskmon.platforms.ctrader.login import authorization_url, complete_login
    from riskmon.platforms.ctrader.transport import endpoint_url

    with clear_errors():
        settings = _load_settings(env_file)
        own = CTRADER.of(settings)
        client_id, secret = own.client_id, own.client_secret
        if client_id is None or secret is None:
            missing = [CTRADER.env_name(name) for name in ("client_id", "client_secret") if getattr(own, name) is None]
            raise ConfigError(", ".join(missing), "needed to log in (your Open API application's client id and secret)")
        typer.echo("Open this address, log in and approve riskmon:\n")
        typer.echo(authorization_url(client_id, redirect_uri) + "\n")
        code = code or typer.prompt("Paste the `code` parameter of the address you were redirected to")
        store = token_store(settings)
        accounts = asyncio.run(
            complete_login(
                client_id,
                secret,
                code.strip(),
                redirect_uri,
                store=store,
                url=endpoint_url(own.host, own.port, own.tls),
            )
        )
        typer.echo(f"tokens saved to {store.path}")
        for account in accounts:
            kind = "live" if account.is_live else "demo"
            typer.echo(f"  ctidTraderAccountId {account.ctid}  trader login {account.trader_login}  ({kind})")


@app.command()
def presets() -> None:
    """List the firm rulebooks riskmon ships: every rule, its source and date, and what is unconfirmed."""
    console = Console(highlight=False)
    console.print("Presets (set PRESET=name; override any number per account in riskmon.toml)\n", markup=False)
    for preset in PRESETS.values():
        rows = Table.grid(padding=(0, 2))
        rows.add_column(style="bold", no_wrap=True)
        rows.add_column(overflow="fold")
        for rule, text in preset.describe():
            rows.add_row(Text(rule), Text(text))
        for point in preset.unconfirmed:
            rows.add_row(Text("unconfirmed"), Text(point))
        console.print(Text.assemble((preset.name, "bold cyan"), f"  {preset.firm} {preset.program}".rstrip()))
        console.print(Padding(rows, (0, 0, 1, 2), expand=False))


@app.command("config")
def show_config(config: ConfigOption = None, env_file: EnvOption = Path(".env"), strict: StrictOption = False) -> None:
    """Print the effective settings and each account's rulebook, where each figure came from; secrets masked."""
    with clear_errors():
        app_config = _load(env_file, config, strict)
        _announce(app_config)
        settings = json.loads(app_config.settings.model_dump_json())
        settings["riskmon_db"] = str(app_config.settings.db_path)  # effective, default included (README)
        for name, plugin in PLATFORMS.items():  # each platform's settings under its name, secrets masked
            settings[name] = json.loads(plugin.of(app_config.settings).model_dump_json())
        settings[CTRADER.name]["token_file"] = str(token_path(app_config.settings))  # where ctrader-login saves
        policies = app_config.enforcement()  # effective: DRY_RUN and the leverage defaults applied
        doc = {
            "settings": settings,
            "accounts": [
                {
                    "id": profile.account,
                    "label": profile.label,
                    "platform": profile.platform,
                    "initial_balance": None if profile.initial_balance is None else str(profile.initial_balance),
                    "rules": json.loads(profile.rulebook.model_dump_json()),
                    "rules_in_words": dict(describe_rules(profile.rulebook)),
                    "sources": {key: str(source) for key, source in app_config.sources[profile.account].items()},
                    "enforce": {k: _plain_value(v) for k, v in asdict(policies[profile.account]).items()},
                }
                for profile in app_config.profiles
            ],
        }
        typer.echo(json.dumps(doc, indent=2))


def _plain_value(value: object) -> object:
    return str(value) if isinstance(value, Decimal | StrEnum) else value


def main() -> None:
    app()


if __name__ == "__main__":
    main()
