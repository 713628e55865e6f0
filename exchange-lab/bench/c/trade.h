/* The same-work C trade's interface, mirrored by shared/shm/c_trade.rs. */
#ifndef SHMX_TRADE_H
#define SHMX_TRADE_H

#include <stdint.h>

/* A segment attached by the product: its first byte, its account table's
 * capacity and currencies as read and checked at attach, the caller's uid
 * and whether it may trade on anyone's account (owner or root). */
struct shmx_market {
    void *base;
    uint32_t capacity;
    uint32_t currencies;
    uint32_t caller;
    uint32_t privileged;
};

/* A trade's price and total and the balance after; on a refusal, what was
 * needed (in `total`) and what there was (in `balance`). */
struct shmx_fill {
    int64_t price;
    int64_t total;
    int64_t balance;
};

enum shmx_outcome {
    SHMX_TRADED = 0,
    SHMX_NOT_POSITIVE = 1,
    SHMX_OVERFLOW = 2,
    SHMX_NO_BALANCE = 3,
    SHMX_NO_STOCK = 4,
    SHMX_NO_HOLDING = 5,
    SHMX_NO_CASH = 6,
    SHMX_NOTHING_PAID = 7,
    SHMX_HALTED = 8,
    SHMX_ROUND_OVER = 9,
    SHMX_ACCOUNT_CLOSED = 10,
    SHMX_NOT_YOURS = 11,
    SHMX_NOT_READY = 12,
    SHMX_CORRUPTED = 13,
    SHMX_LOCK_FAILED = 14,
    SHMX_REPAIR_FAILED = 15,
};

/* One trade: TRADED and its fill, or why not (a refusal's fill says what
 * was needed and what there was). */
int shmx_c_trade(const struct shmx_market *market, uint32_t account, uint32_t serial,
                 uint32_t currency, int buy, int64_t amount, struct shmx_fill *fill);

/* A run of trades on one account, timed with no other language in its
 * loop: the bench's workloads. `pairs` 0: `trades` trades alternating a buy
 * and a sell of `amount` hundredths of `currency` (row (a)); 1: a buy of
 * 0.01 to 1.00 of a random currency drawn from `seed`, then the sell of it,
 * as a stress worker does (row (b)). */
struct shmx_work {
    uint32_t account;
    uint32_t serial;
    uint32_t currency;
    int32_t pairs;
    int64_t amount;
    uint64_t seed;
    uint64_t trades;
};

/* What a run did; `fill` is the last trade's, or the stopping outcome's. */
struct shmx_tally {
    uint64_t traded;
    uint64_t refused;
    struct shmx_fill fill;
};

/* TRADED when every trade was made or refused by the rules (pairs only);
 * otherwise the outcome that stopped the run. */
int shmx_c_run(const struct shmx_market *market, const struct shmx_work *work,
               struct shmx_tally *tally);

#endif
