"""Exceptions riskmon raises on purpose. Each carries one line a person can act on.

    RiskmonError
    ├── ConfigError            a setting is missing or invalid (names the setting)
    ├── StoreError             the state database cannot be used
    │   └── StoreLockedError   another riskmon process holds the database
    ├── PlatformError          a trading platform failed
    │   ├── PlatformUnavailable    cannot connect / reach the terminal or server (retryable)
    │   ├── AuthenticationError    credentials refused (not retryable without a fix)
    │   └── ProtocolError          a message that does not fit the protocol
    └── ReplayError            a replay file cannot be read at all
"""


class RiskmonError(Exception):
    """Base of every error riskmon raises deliberately."""


class ConfigError(RiskmonError):
    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"configuration error: {setting}: {problem}")


class StoreError(RiskmonError):
    pass


class StoreLockedError(StoreError):
    pass


class PlatformError(RiskmonError):
    pass


class PlatformUnavailable(PlatformError):
    pass


class AuthenticationError(PlatformError):
    pass


class ProtocolError(PlatformError):
    pass


class ReplayError(RiskmonError):
    pass
