#!/usr/bin/env python3
"""A momentum bot: buys a currency whose price rose twice in a row and
sells what it holds of one that fell twice in a row. It reacts to every
change of the market (`wait`) and stops by itself after --for.

    python3 examples/bots/momentum.py --segment posix:/class --name ben:bot --for 5m
"""

import argparse
import time

from shmx_client import ClosedError, RefusedError, Trader, parse_duration


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", help="the exchange, e.g. posix:/class")
    parser.add_argument("--name", help="the account to trade as")
    parser.add_argument("--for", dest="length", default="1m", help="how long to run: 20s, 5m")
    parser.add_argument("--trader", help="the trader program (default: trader on the PATH)")
    args = parser.parse_args()
    deadline = time.monotonic() + parse_duration(args.length)

    seen = {}  # currency -> its last two buy prices
    trades = 0
    with Trader(args.segment, args.name, args.trader) as trader:
        hello = trader.hello()
        print(f"momentum as {hello['account']} on {hello['market']}")
        while time.monotonic() < deadline:
            left_ms = int((deadline - time.monotonic()) * 1000)
            trader.wait(max(0, min(1000, left_ms)))
            holdings = trader.portfolio()["holdings"]
            for rate in trader.rates():
                name, price = rate["name"], rate["buy"]
                history = seen.get(name, [])
                if history and history[-1] == price:
                    continue
                history = (history + [price])[-3:]
                seen[name] = history
                if len(history) < 3:
                    continue
                try:
                    if history[0] < history[1] < history[2]:
                        trader.buy(name, 1)
                        trades += 1
                    elif history[0] > history[1] > history[2] and holdings[name] > 0:
                        trader.sell(name, min(holdings[name], 1))
                        trades += 1
                except RefusedError:
                    pass
                except ClosedError as error:
                    if error.code == "round_over":
                        print("the round is over")
                        deadline = 0
                        break
        print(f"done: {trades} trades, net worth {trader.portfolio()['net_worth']}")


if __name__ == "__main__":
    main()
