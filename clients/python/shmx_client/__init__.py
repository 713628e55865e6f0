"""A client for the shm-exchange bot protocol (docs/PROTOCOL.md).

It runs the trader as a child process, `trader --json --script -`, writes
one command a line to its stdin and reads one JSON object a line from its
stdout. Standard library only.
"""

import json
import os
import subprocess
from decimal import ROUND_DOWN, Decimal

__all__ = [
    "PROTOCOL_VERSION",
    "Trader",
    "ExchangeError",
    "UsageError",
    "RefusedError",
    "ClosedError",
    "RightsError",
    "UnusableError",
    "parse_duration",
]

#: The protocol version this client was written for; `hello` tells the
#: trader's, and a bot may check they agree.
PROTOCOL_VERSION = 1


class ExchangeError(Exception):
    """A command the trader refused or could not run."""

    def __init__(self, code, message, command=None, reply=None):
        super().__init__(message)
        self.code = code
        self.command = command
        self.reply = reply or {}


class UsageError(ExchangeError):
    """The command was not understood: fix the bot."""


class RefusedError(ExchangeError):
    """A market rule refused it (money, stock, holdings); nothing changed."""


class ClosedError(ExchangeError):
    """Trading is not open now: halted, or the round is over."""


class RightsError(ExchangeError):
    """This account or user may not do that."""


class UnusableError(ExchangeError):
    """The exchange cannot be used; the trader process has stopped."""


_FAMILIES = {
    UsageError: (
        "unknown_command wrong_arguments bad_count bad_amount bad_price bad_wait "
        "line_too_long unknown_currency unknown_account bad_account_name"
    ),
    RefusedError: (
        "insufficient_balance insufficient_stock insufficient_holding "
        "insufficient_cash nothing_paid overflow crossed_quote busy inconsistent_audit"
    ),
    ClosedError: "halted round_over round_running account_closed",
    RightsError: "not_owner read_only not_your_account class_mode permission_denied",
}
_CLASS_OF = {code: cls for cls, codes in _FAMILIES.items() for code in codes.split()}

# Fields that hold exact decimals, as strings on the wire.
_DECIMALS = {
    "sell", "buy", "stock", "amount", "price", "total", "balance", "net_worth",
    "profit", "starting_balance", "cash",
}
_DECIMAL_MAPS = {"holdings", "values"}


def error_class(code):
    """The exception class for an error code."""
    return _CLASS_OF.get(code, UnusableError)


def _decimals(value, key=None):
    if isinstance(value, dict):
        if key in _DECIMAL_MAPS:
            return {name: Decimal(amount) for name, amount in value.items()}
        return {name: _decimals(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    if key in _DECIMALS and isinstance(value, str):
        return Decimal(value)
    return value


def _amount(value):
    """An amount as the protocol takes it: at most two decimals, rounded down."""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def parse_duration(text):
    """Seconds in a duration like `20s`, `5m` or `1h`."""
    units = {"s": 1, "m": 60, "h": 3600}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration; give e.g. 20s, 5m or 1h")
    return int(text[:-1]) * units[text[-1]]


class Trader:
    """One trader process acting for one account."""

    def __init__(self, segment=None, name=None, program=None, extra_args=()):
        program = program or os.environ.get("SHMX_TRADER", "trader")
        args = [program, "--json", "--script", "-"]
        if segment:
            args += ["--segment", segment]
        if name:
            args += ["--name", name]
        args += list(extra_args)
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def close(self):
        """Ends the trader process."""
        if self._process.poll() is None:
            try:
                self._process.stdin.write("quit\n")
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except (BrokenPipeError, ValueError):
                pass
        self._process.wait()

    def command(self, line):
        """Runs one command line and returns its reply (a dict), or raises
        the ExchangeError subclass of its code."""
        if "\n" in line:
            raise UsageError("wrong_arguments", "one command a line", line)
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        except (BrokenPipeError, ValueError):
            answer = ""
        if not answer:
            raise UnusableError(
                "trader_exited",
                f"the trader stopped (exit status {self._process.poll()})",
                line.split()[0] if line.split() else None,
            )
        reply = json.loads(answer)
        if not reply.get("ok"):
            code = reply.get("code", "internal")
            raise error_class(code)(code, reply.get("error", code), reply.get("command"), reply)
        return _decimals(reply)

    def hello(self):
        """The protocol version, the market, this account's rights, the
        currencies and the limits."""
        return self.command("hello")

    def buy(self, currency, amount):
        """Buys `amount` of `currency`; returns the receipt."""
        return self.command(f"buy {currency} {_amount(amount)}")

    def sell(self, currency, amount):
        """Sells `amount` of `currency`; returns the receipt."""
        return self.command(f"sell {currency} {_amount(amount)}")

    def quote(self, side, currency, amount):
        """What buying or selling would cost or pay now, without trading."""
        return self.command(f"quote {side} {currency} {_amount(amount)}")

    def rates(self):
        """Every currency's sell and buy price and stock."""
        return self.command("rates")["currencies"]

    def portfolio(self):
        """This account's balance, holdings, net worth and profit."""
        return self.command("portfolio")

    def traders(self):
        """Every account, richest first."""
        return self.command("traders")["traders"]

    def wait(self, ms=None):
        """Sleeps until the market changes or `ms` milliseconds pass;
        returns whether it changed."""
        return self.command("wait" if ms is None else f"wait {int(ms)}")["changed"]
