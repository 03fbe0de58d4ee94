"""The MetaTrader5 package's numeric constants that riskmon relies on (values as the package exports them).

Kept here rather than read from the module so that the official package and the mt5linux bridge are
handled by one typed code path; the values are part of the terminal's public protocol.
"""

from typing import Final

# last_error() codes
RES_S_OK: Final = 1
RES_E_FAIL: Final = -1
RES_E_INVALID_PARAMS: Final = -2
RES_E_NOT_FOUND: Final = -4
RES_E_AUTH_FAILED: Final = -6
RES_E_AUTO_TRADING_DISABLED: Final = -8
RES_E_INTERNAL_FAIL: Final = -10000
RES_E_INTERNAL_FAIL_SEND: Final = -10001
RES_E_INTERNAL_FAIL_RECEIVE: Final = -10002
RES_E_INTERNAL_FAIL_INIT: Final = -10003
RES_E_INTERNAL_FAIL_CONNECT: Final = -10004
RES_E_INTERNAL_FAIL_TIMEOUT: Final = -10005

ORDER_TYPE_BUY: Final = 0
ORDER_TYPE_SELL: Final = 1
POSITION_TYPE_BUY: Final = 0

TRADE_ACTION_DEAL: Final = 1
TRADE_ACTION_REMOVE: Final = 8
ORDER_FILLING_FOK: Final = 0
ORDER_FILLING_IOC: Final = 1
ORDER_FILLING_RETURN: Final = 2
ORDER_TIME_GTC: Final = 0
SYMBOL_FILLING_FOK: Final = 1  # bits of symbol_info().filling_mode (not exported by the package)
SYMBOL_FILLING_IOC: Final = 2

DEAL_TYPE_BUY: Final = 0
DEAL_TYPE_SELL: Final = 1
DEAL_TYPE_BALANCE: Final = 2
DEAL_TYPE_CREDIT: Final = 3
DEAL_TYPE_BUY_CANCELED: Final = 13
DEAL_TYPE_SELL_CANCELED: Final = 14
DEAL_ENTRY_IN: Final = 0
DEAL_ENTRY_OUT: Final = 1
DEAL_ENTRY_INOUT: Final = 2
DEAL_ENTRY_OUT_BY: Final = 3

TRADE_RETCODE_REQUOTE: Final = 10004
TRADE_RETCODE_DONE: Final = 10009
TRADE_RETCODE_DONE_PARTIAL: Final = 10010
TRADE_RETCODE_TRADE_DISABLED: Final = 10017
TRADE_RETCODE_MARKET_CLOSED: Final = 10018
TRADE_RETCODE_NO_MONEY: Final = 10019
TRADE_RETCODE_PRICE_CHANGED: Final = 10020
TRADE_RETCODE_PRICE_OFF: Final = 10021
TRADE_RETCODE_SERVER_DISABLES_AT: Final = 10026
TRADE_RETCODE_CLIENT_DISABLES_AT: Final = 10027
TRADE_RETCODE_INVALID_FILL: Final = 10030
TRADE_RETCODE_POSITION_CLOSED: Final = 10036
