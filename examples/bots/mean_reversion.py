#!/usr/bin/env python3
"""A mean-reversion bot: buys a currency whose price fell well below its
recent average and sells it once it is back above. It reacts to every
change of the market (`wait`) and stops by itself after --for.

    python3 examples/bots/mean_reversion.py --segment posix:/class --name ana:bot --for 5m
"""

import argparse
import time
from decimal import Decimal

from shmx_client import ClosedError, RefusedError, Trader, parse_duration


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", help="the exchange, e.g. posix:/class")
    parser.add_argument("--name", help="the account to trade as")
    parser.add_argument("--for", dest="length", default="1m", help="how long to run: 20s, 5m")
    parser.add_argument("--trader", help="the trader program (default: trader on the PATH)")
    parser.add_argument("--band", type=Decimal, default=Decimal("0.003"),
                        help="how far from the average a price must go (a fraction)")
    args = parser.parse_args()
    deadline = time.monotonic() + parse_duration(args.length)

    averages = {}
    last = {}
    trades = 0
    with Trader(args.segment, args.name, args.trader) as trader:
        hello = trader.hello()
        print(f"mean reversion as {hello['account']} on {hello['market']}")
        while time.monotonic() < deadline:
            left_ms = int((deadline - time.monotonic()) * 1000)
            trader.wait(max(0, min(1000, left_ms)))
            holdings = trader.portfolio()["holdings"]
            for rate in trader.rates():
                name, price = rate["name"], rate["buy"]
                if last.get(name) == price:
                    continue  # another trader's trade: this price was seen
                last[name] = price
                average = averages.get(name, price)
                averages[name] = (average * 4 + price) / 5
                try:
                    if price < average * (1 - args.band):
                        trader.buy(name, 1)
                        trades += 1
                    elif price > average * (1 + args.band) and holdings[name] >= 1:
                        trader.sell(name, 1)
                        trades += 1
                except RefusedError:
                    pass  # not enough money or stock: the next change may allow it
                except ClosedError as error:
                    if error.code == "round_over":
                        print("the round is over")
                        deadline = 0
                        break
        print(f"done: {trades} trades, net worth {trader.portfolio()['net_worth']}")


if __name__ == "__main__":
    main()
