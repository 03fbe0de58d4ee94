"""One MetaTrader 5 terminal session: loading the module, logging in, and running calls on its own thread.

The official ``MetaTrader5`` package (Windows) and the ``mt5linux`` bridge client expose the same API,
so the terminal takes either as a dependency: the module object, or a zero-argument factory returning
one (called again after the bridge drops). Every call into it runs on one dedicated worker thread per
terminal, with a timeout, so the event loop never blocks and one stuck terminal stalls only itself.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import SecretStr

from riskmon.errors import AuthenticationError, ConfigError, PlatformError, PlatformUnavailable
from riskmon.platforms.mt5 import constants as c

log = logging.getLogger(__name__)

T = TypeVar("T")

_REASONS = {
    c.RES_E_FAIL: "the terminal reported a generic failure",
    c.RES_E_INVALID_PARAMS: "invalid parameters",
    c.RES_E_NOT_FOUND: "no such data",
    c.RES_E_AUTH_FAILED: "authorization failed: check the login, password and server name",
    c.RES_E_AUTO_TRADING_DISABLED: "auto-trading is disabled in the terminal (enable Algo Trading)",
    c.RES_E_INTERNAL_FAIL: "the terminal failed internally",
    c.RES_E_INTERNAL_FAIL_SEND: "lost the connection to the terminal (send failed)",
    c.RES_E_INTERNAL_FAIL_RECEIVE: "lost the connection to the terminal (receive failed)",
    c.RES_E_INTERNAL_FAIL_INIT: "terminal not found or failed to start: check MT5_PATH",
    c.RES_E_INTERNAL_FAIL_CONNECT: "cannot connect to the terminal: is MetaTrader 5 running?",
    c.RES_E_INTERNAL_FAIL_TIMEOUT: "the terminal did not answer in time",
}
_CONNECTION_LOST = {
    c.RES_E_INTERNAL_FAIL,
    c.RES_E_INTERNAL_FAIL_SEND,
    c.RES_E_INTERNAL_FAIL_RECEIVE,
    c.RES_E_INTERNAL_FAIL_INIT,
    c.RES_E_INTERNAL_FAIL_CONNECT,
    c.RES_E_INTERNAL_FAIL_TIMEOUT,
}


def load_mt5_module(bridge_host: str | None = None, bridge_port: int = 18812, request_timeout: float = 30.0) -> Any:
    """The official ``MetaTrader5`` module, or with ``bridge_host`` an ``mt5linux`` client connected to it
    (each bridge request giving up after ``request_timeout`` seconds)."""
    if bridge_host is None:
        try:
            return importlib.import_module("MetaTrader5")
        except ImportError:
            # nothing to wait for: an installation or a setting is missing (one line, exit 3; `run` retries)
            raise ConfigError(
                "MT5_BRIDGE_HOST",
                "not set, and the MetaTrader5 package is not installed: on Windows `pip install 'riskmon[mt5]'`; "
                "elsewhere run the mt5linux bridge and set MT5_BRIDGE_HOST",
            ) from None
    try:
        from mt5linux import MetaTrader5
    except ImportError:
        raise ConfigError(
            "MT5_BRIDGE_HOST", "set, but mt5linux is not installed: `pip install 'riskmon[mt5-bridge]'`"
        ) from None
    try:
        return MetaTrader5(host=bridge_host, port=bridge_port, timeout=request_timeout)
    except ImportError:
        raise PlatformUnavailable(
            f"the MT5 bridge at {bridge_host}:{bridge_port} cannot import MetaTrader5: "
            "`pip install MetaTrader5` into the Windows Python that runs the bridge"
        ) from None
    except (OSError, EOFError) as exc:
        raise PlatformUnavailable(
            f"MT5 bridge at {bridge_host}:{bridge_port} unreachable ({exc}): start it under Wine "
            f"with `python -m mt5linux` (or `mt5server.exe -p {bridge_port}`)"
        ) from None


class TerminalTimeout(PlatformUnavailable):
    """The terminal took longer than the call timeout: what was asked may or may not have happened."""


def explain(code: int, text: str) -> str:
    """A last_error() pair as one readable reason."""
    return f"{_REASONS.get(code, 'terminal error')} ({code}: {text})"


def error_for(code: int, text: str, context: str) -> PlatformError:
    kind = AuthenticationError if code == c.RES_E_AUTH_FAILED else PlatformUnavailable
    return kind(f"{context}: {explain(code, text)}")


def last_error(mt5: Any) -> tuple[int, str]:
    code, text = mt5.last_error()
    return int(code), str(text)


def plain(record: Any) -> dict[str, Any]:
    """A local copy of a terminal record (a namedtuple, or an rpyc netref to one over the bridge).

    Over the bridge, reading the fields one by one costs a round trip each; the record's repr (plain
    numbers, strings and booleans) crosses in one and is read back with ``ast.literal_eval``, which
    evaluates literals only. Anything else falls back to copying field by field.
    """
    fields = record._asdict()
    try:
        copied = ast.literal_eval(repr(fields))
    except (ValueError, SyntaxError):
        copied = None
    if not isinstance(copied, dict):
        copied = dict(fields.items())
    return {str(key): value for key, value in copied.items()}


def fetch(mt5: Any, function: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One record from a data function; a None answer raises the mapped last_error()."""
    result = getattr(mt5, function)(*args, **kwargs)
    if result is None:
        code, text = last_error(mt5)
        raise error_for(code, text, f"{function}() failed")
    return plain(result)


def fetch_all(mt5: Any, function: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """All records from a collection function; None with a benign last_error() means none."""
    result = getattr(mt5, function)(*args, **kwargs)
    if result is None:
        code, text = last_error(mt5)
        if code in (c.RES_S_OK, c.RES_E_NOT_FOUND):
            return []
        raise error_for(code, text, f"{function}() failed")
    return [plain(record) for record in result]


def fetch_optional(mt5: Any, function: str, *args: Any) -> dict[str, Any] | None:
    """A record that may legitimately not exist (an unknown symbol); a lost terminal still raises."""
    result = getattr(mt5, function)(*args)
    if result is None:
        code, text = last_error(mt5)
        if code in _CONNECTION_LOST:
            raise error_for(code, text, f"{function}() failed")
        return None
    return plain(result)


def expect_login(mt5: Any, login: int) -> dict[str, Any]:
    """account_info(), refusing to go on when the terminal serves another account: the official package
    drives one terminal per process, and another session logging it in elsewhere must never make this
    account's figures (or closes) be another account's."""
    info = fetch(mt5, "account_info")
    if int(info["login"]) != login:
        raise PlatformUnavailable(f"the terminal is logged into account {info['login']}, not {login}")
    return info


def _disconnect(mt5: Any) -> None:
    """Close an mt5linux client's rpyc connection now, on the calling thread. Left to the garbage
    collector, rpyc's finalizer makes a blocking round trip from whichever thread happens to collect it
    (stalling another terminal's thread or the event loop). mt5linux 1.0.11 keeps the connection private;
    the official module has none."""
    connection = getattr(mt5, "_MetaTrader5__conn", None)
    if connection is not None:
        with contextlib.suppress(Exception):  # already closed or broken: nothing more to release
            connection.close()


class _Worker:
    """One worker thread and the terminal connection it owns; discarded whole when it hangs."""

    def __init__(self, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.mt5: Any = None
        self.discarded = False

    def drop(self) -> None:
        """Forget the session (the next call logs in again), releasing its bridge connection."""
        mt5, self.mt5 = self.mt5, None
        if mt5 is not None:
            _disconnect(mt5)

    def end(self) -> None:
        if self.mt5 is not None:
            with contextlib.suppress(EOFError, OSError):  # the bridge is already gone: nothing to shut
                self.mt5.shutdown()
        self.drop()


class MT5Terminal:
    """A logged-in session with one terminal (one account), reconnecting on demand.

    ``module``: the MetaTrader5 API object, or a zero-argument factory returning it (see
    ``load_mt5_module``); a factory is called again to reconnect after the bridge drops.
    ``timeout``: the terminal's own connection timeout (seconds) passed to ``initialize``;
    ``call_timeout``: how long one unit of work may take on the worker thread.

    One terminal per account: the official package can drive only one terminal per process, so further
    accounts go through bridges (one mt5linux server per terminal). Share an account's MT5Terminal
    between its MT5Feed and MT5Trader so that all its calls queue on the same thread.
    """

    def __init__(
        self,
        module: Any,
        *,
        login: int,
        password: SecretStr | None = None,
        server: str | None = None,
        path: str | None = None,
        timeout: float = 60.0,
        call_timeout: float = 30.0,
    ) -> None:
        self._connect: Callable[[], Any] = module if callable(module) else lambda: module
        self.login = login
        self._password = password
        self.server = server
        self.path = path
        self._timeout = timeout
        self._call_timeout = call_timeout
        self._worker: _Worker | None = None

    def __repr__(self) -> str:
        return f"MT5Terminal(login={self.login}, server={self.server!r}, path={self.path!r})"

    @property
    def account(self) -> str:
        return str(self.login)

    @property
    def connected(self) -> bool:
        return self._worker is not None and self._worker.mt5 is not None

    async def run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(mt5)`` on this terminal's thread, logging in first if needed.

        Raises ``PlatformUnavailable`` when the terminal or bridge is unreachable, does not answer within
        ``call_timeout``, or drops mid-call; ``AuthenticationError`` when the credentials are refused.
        """
        if self._worker is None:
            self._worker = _Worker(f"mt5-{self.login}")
        worker = self._worker
        future = asyncio.get_running_loop().run_in_executor(worker.executor, self._work, worker, work)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands as the
            # call completes, and the caller (an enforcer send) would then wait forever.
            async with asyncio.timeout(self._call_timeout):
                return await future
        except TimeoutError:
            self._discard(worker)
            raise TerminalTimeout(f"MT5 terminal {self.login}: no answer within {self._call_timeout:g} s") from None

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        ending = asyncio.get_running_loop().run_in_executor(worker.executor, worker.end)
        with contextlib.suppress(TimeoutError):  # a hung terminal is left behind, not waited for
            async with asyncio.timeout(self._call_timeout):
                await ending
        self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        """Stop using ``worker``: queued calls are cancelled, and a call still running releases the
        session when it returns."""
        if self._worker is worker:
            self._worker = None
        worker.discarded = True
        worker.executor.shutdown(wait=False, cancel_futures=True)

    def _work(self, worker: _Worker, work: Callable[[Any], T]) -> T:  # on the worker thread
        try:
            if worker.mt5 is None:
                worker.mt5 = self._login(self._connect())
            return work(worker.mt5)
        except PlatformError:
            worker.drop()
            raise
        except (EOFError, OSError) as exc:  # rpyc: connection closed, reset or timed out
            worker.drop()
            raise PlatformUnavailable(f"MT5 terminal {self.login}: bridge connection lost ({exc!r})") from exc
        finally:
            if worker.discarded:
                worker.drop()

    def _login(self, mt5: Any) -> Any:
        """Log ``mt5`` in to this account, or release it and raise."""
        try:
            self._initialize(mt5)
        except BaseException:
            _disconnect(mt5)
            raise
        return mt5

    def _initialize(self, mt5: Any) -> None:
        args = (self.path,) if self.path else ()
        kwargs: dict[str, Any] = {"login": self.login, "timeout": int(self._timeout * 1000)}
        if self.server:
            kwargs["server"] = self.server
        if self._password is not None:
            kwargs["password"] = self._password.get_secret_value()
        where = f"MT5 login {self.login}" + (f" on {self.server}" if self.server else "")
        if not mt5.initialize(*args, **kwargs):
            raise error_for(*last_error(mt5), where)
        expect_login(mt5, self.login)
        log.info("%s: connected", where)
