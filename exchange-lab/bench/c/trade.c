/*
 * The same work as `Exchange::trade`, written by hand in C: the anchor of
 * `exchange-lab bench` rows (a) and (b), so that a ratio against it says
 * what the Rust costs, not what the safety costs (the bare C loop,
 * `shm::baseline`, is the row for that).
 *
 * It trades on a real segment made by the product, through the structs of
 * layout.h, which a Rust unit test writes from `shm::layout` and fails on
 * when stale; the _Static_asserts below pin every offset to it. The work is
 * the product's, step for step:
 *
 * - the lock: the mutex's kind and owner words checked, a trylock, a spin
 *   of 12 rounds with backoff, then 50 ms slices of
 *   pthread_mutex_clocklock up to 10 s; the holder's uid stored in the
 *   mutex's spare bytes; glibc's robust-list links read after the lock and
 *   written back, with the kind, before the unlock (see shm::mutex);
 * - after a dead owner (EOWNERDEAD): a pending trade (write_seq = 3 mod
 *   4) found from trade_seq, checked and applied again, write_seq made
 *   even, then pthread_mutex_consistent; a pending change of another kind
 *   (which this trader never makes) is left to the product, as a redo that
 *   fails its checks is: the state word POISONED, the mutex consistent;
 * - the state, the halt flag, the round's end, the account's index, status,
 *   serial and owner, the quote, then market::rules with exact 64-bit
 *   arithmetic, overflow checks and rounding in the exchange's favour, and
 *   its refusals in its order;
 * - the journal: the tape entry with the redo (seq 0, the fields, seq), the
 *   rest of the redo on the currency's line, write_seq odd (3 mod 4) and a
 *   release fence, the six stores, trade_seq, write_seq even;
 * - the unlock, then FUTEX_WAKE on write_seq if a watcher may sleep.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "trade.h"

struct shmx_lock {
    pthread_mutex_t mutex;
    int64_t cash;
    uint64_t trade_seq;
    uint64_t write_seq;
};

struct shmx_header {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t state;
    uint64_t abi;
    uint64_t total_size;
    uint32_t account_capacity;
    uint32_t currency_count;
    uint32_t account_count;
    uint32_t pad;
    int64_t initial_cash;
    int64_t starting_balance;
    uint64_t tape_start;
    uint32_t watchers;
    uint32_t idle_wakes;
    uint32_t owner_uid;
    uint32_t flags;
    uint32_t unlocked_trades;
    uint32_t account_serial;
    uint32_t balances_handed_out;
    uint32_t round_pad;
    uint64_t round_end;
    _Alignas(64) struct shmx_lock lock;
    _Alignas(64) unsigned char redo[SHMX_SIZE_REDO];
    _Alignas(64) struct shmx_currency {
        unsigned char name[SHMX_CURRENCY_NAME_BYTES];
        int64_t sell;
        int64_t buy;
        int64_t stock;
        int64_t initial_stock;
        int64_t trade_cash;
        uint32_t trade_count;
        uint32_t reserved;
    } currencies[SHMX_MAX_CURRENCIES];
    _Alignas(64) struct shmx_entry {
        uint64_t seq;
        uint16_t account;
        uint8_t currency;
        uint8_t kind;
        uint32_t serial;
        int64_t amount;
        int64_t price;
        int64_t total;
        int64_t stock;
        int64_t holding;
        int64_t balance;
    } tape[SHMX_TAPE_LEN];
};

struct shmx_account {
    unsigned char name[SHMX_ACCOUNT_NAME_BYTES];
    int64_t balance;
    uint64_t last_trade;
    uint32_t trades;
    uint32_t status;
    uint32_t owner;
    uint32_t serial;
    int64_t holdings[SHMX_MAX_CURRENCIES];
};

#define AT(type, field, where) _Static_assert(offsetof(type, field) == (where), #type "." #field)
AT(struct shmx_header, state, SHMX_OFF_HEADER_STATE);
AT(struct shmx_header, account_count, SHMX_OFF_HEADER_ACCOUNT_COUNT);
AT(struct shmx_header, watchers, SHMX_OFF_HEADER_WATCHERS);
AT(struct shmx_header, idle_wakes, SHMX_OFF_HEADER_IDLE_WAKES);
AT(struct shmx_header, flags, SHMX_OFF_HEADER_FLAGS);
AT(struct shmx_header, round_end, SHMX_OFF_HEADER_ROUND_END);
AT(struct shmx_header, lock, SHMX_OFF_HEADER_LOCK);
AT(struct shmx_header, lock.cash, SHMX_OFF_HEADER_LOCK + SHMX_OFF_LOCK_CASH);
AT(struct shmx_header, lock.trade_seq, SHMX_OFF_HEADER_LOCK + SHMX_OFF_LOCK_TRADE_SEQ);
AT(struct shmx_header, lock.write_seq, SHMX_OFF_HEADER_LOCK + SHMX_OFF_LOCK_WRITE_SEQ);
AT(struct shmx_header, redo, SHMX_OFF_HEADER_REDO);
AT(struct shmx_header, currencies, SHMX_OFF_HEADER_CURRENCIES);
AT(struct shmx_currency, sell, SHMX_OFF_CURRENCY_SELL);
AT(struct shmx_currency, buy, SHMX_OFF_CURRENCY_BUY);
AT(struct shmx_currency, stock, SHMX_OFF_CURRENCY_STOCK);
AT(struct shmx_currency, trade_cash, SHMX_OFF_CURRENCY_TRADE_CASH);
AT(struct shmx_currency, trade_count, SHMX_OFF_CURRENCY_TRADE_COUNT);
AT(struct shmx_header, tape, SHMX_OFF_HEADER_TAPE);
AT(struct shmx_entry, account, SHMX_OFF_ENTRY_ACCOUNT);
AT(struct shmx_entry, currency, SHMX_OFF_ENTRY_CURRENCY);
AT(struct shmx_entry, kind, SHMX_OFF_ENTRY_KIND);
AT(struct shmx_entry, serial, SHMX_OFF_ENTRY_SERIAL);
AT(struct shmx_entry, amount, SHMX_OFF_ENTRY_AMOUNT);
AT(struct shmx_entry, price, SHMX_OFF_ENTRY_PRICE);
AT(struct shmx_entry, total, SHMX_OFF_ENTRY_TOTAL);
AT(struct shmx_entry, stock, SHMX_OFF_ENTRY_STOCK);
AT(struct shmx_entry, holding, SHMX_OFF_ENTRY_HOLDING);
AT(struct shmx_entry, balance, SHMX_OFF_ENTRY_BALANCE);
AT(struct shmx_account, balance, SHMX_OFF_ACCOUNT_BALANCE);
AT(struct shmx_account, last_trade, SHMX_OFF_ACCOUNT_LAST_TRADE);
AT(struct shmx_account, trades, SHMX_OFF_ACCOUNT_TRADES);
AT(struct shmx_account, status, SHMX_OFF_ACCOUNT_STATUS);
AT(struct shmx_account, owner, SHMX_OFF_ACCOUNT_OWNER);
AT(struct shmx_account, serial, SHMX_OFF_ACCOUNT_SERIAL);
AT(struct shmx_account, holdings, SHMX_OFF_ACCOUNT_HOLDINGS);
_Static_assert(sizeof(struct shmx_lock) == SHMX_SIZE_LOCK, "lock slot");
_Static_assert(sizeof(struct shmx_currency) == SHMX_SIZE_CURRENCY, "currency slot");
_Static_assert(sizeof(struct shmx_entry) == SHMX_SIZE_ENTRY, "tape entry");
_Static_assert(sizeof(struct shmx_header) == SHMX_HEADER_SIZE, "header");
_Static_assert(sizeof(struct shmx_account) == SHMX_SIZE_ACCOUNT, "account slot");
_Static_assert(sizeof(pthread_mutex_t) == 40, "glibc x86_64 mutex");

/* glibc x86_64's words inside pthread_mutex_t: see shm::mutex. */
#define MUTEX_OWNER 8
#define MUTEX_KIND 16
#define MUTEX_HOLDER 20
#define MUTEX_LIST_PREV 24
#define MUTEX_LIST_NEXT 32
#define SPIN_ROUNDS 12
#define LOCK_SLICE_NS 50000000L
#define LOCK_TIMEOUT_S 10
#define FORGET_WATCHERS_AFTER SHMX_FORGET_WATCHERS_AFTER

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Small helpers inline, as hand-written C would have them (GCC keeps
 * those the cold repair also calls out of line otherwise). */
#define ALWAYS_INLINE __attribute__((always_inline)) inline
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

ALWAYS_INLINE static int32_t *mutex_word(pthread_mutex_t *mutex, size_t offset) {
    return (int32_t *)((unsigned char *)mutex + offset);
}

ALWAYS_INLINE static uintptr_t *mutex_link(pthread_mutex_t *mutex, size_t offset) {
    return (uintptr_t *)((unsigned char *)mutex + offset);
}

static int32_t kind_of_fresh;

static void init_fresh_kind(void) {
    pthread_mutexattr_t attr;
    pthread_mutex_t template;
    kind_of_fresh = -1;
    if (pthread_mutexattr_init(&attr) != 0)
        return;
    if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
        pthread_mutex_init(&template, &attr) == 0) {
        kind_of_fresh = LOAD(mutex_word(&template, MUTEX_KIND));
        pthread_mutex_destroy(&template);
    }
    pthread_mutexattr_destroy(&attr);
}

/* The kind word pthread_mutex_init writes for a robust, process-shared
 * mutex in this process, as shm::mutex's fresh_kind; -1 if none. */
static int32_t fresh_kind(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_fresh_kind);
    return kind_of_fresh;
}

static struct timespec later(struct timespec time, long ns, time_t s) {
    time.tv_sec += s;
    time.tv_nsec += ns;
    if (time.tv_nsec >= 1000000000L) {
        time.tv_nsec -= 1000000000L;
        time.tv_sec += 1;
    }
    return time;
}

/* Every outcome of the first trylock but a clean acquire. */
__attribute__((noinline, cold)) static int lock_contended(pthread_mutex_t *mutex, int code) {
    if (code != EBUSY)
        return code;
    for (unsigned round = 0; round < SPIN_ROUNDS; round++) {
        for (unsigned spin = 0; spin < (1u << (round < 6 ? round : 6)); spin++)
            __builtin_ia32_pause();
        code = pthread_mutex_trylock(mutex);
        if (code != EBUSY)
            return code;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec deadline = later(now, 0, LOCK_TIMEOUT_S);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec end = later(now, LOCK_SLICE_NS, 0);
        int last = end.tv_sec > deadline.tv_sec ||
                   (end.tv_sec == deadline.tv_sec && end.tv_nsec >= deadline.tv_nsec);
        if (last)
            end = deadline;
        code = pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, &end);
        if (code != ETIMEDOUT || last)
            return code;
    }
}

ALWAYS_INLINE static uint64_t next_seq(uint64_t seq) {
    return seq + 1 == 0 ? 1 : seq + 1;
}

ALWAYS_INLINE static struct shmx_entry *tape_slot(struct shmx_header *header, uint64_t seq) {
    return &header->tape[(seq - 1) % SHMX_TAPE_LEN];
}

/* The trade's absolute values: one store each, then trade_seq. */
ALWAYS_INLINE static void apply(struct shmx_header *header, struct shmx_account *slot, unsigned currency,
                  uint64_t seq, int64_t stock, int64_t holding, int64_t balance, int64_t cash,
                  uint32_t trades) {
    STORE(&header->currencies[currency].stock, stock);
    STORE(&slot->holdings[currency], holding);
    STORE(&slot->balance, balance);
    STORE(&header->lock.cash, cash);
    STORE(&slot->trades, trades);
    STORE(&slot->last_trade, seq);
    STORE(&header->lock.trade_seq, seq);
}

ALWAYS_INLINE static void end_write(struct shmx_header *header) {
    uint64_t write_seq = LOAD(&header->lock.write_seq);
    __atomic_store_n(&header->lock.write_seq, (write_seq | 1) + 1, __ATOMIC_RELEASE);
}

/* A dead owner's pending trade applied again (journal::replay and
 * tape::RawTrade); 0, or -1 when it fails a check or is not a trade. */
__attribute__((noinline, cold)) static int replay(const struct shmx_market *market) {
    struct shmx_header *header = market->base;
    uint64_t write_seq = __atomic_load_n(&header->lock.write_seq, __ATOMIC_ACQUIRE);
    if (write_seq % 2 == 0)
        return 0;
    if (write_seq % 4 != 3)
        return -1;
    uint64_t trade_seq = LOAD(&header->lock.trade_seq);
    uint64_t next = next_seq(trade_seq);
    uint64_t seq = LOAD(&tape_slot(header, next)->seq) == next ? next : trade_seq;
    struct shmx_entry *entry = tape_slot(header, seq);
    uint8_t kind = LOAD(&entry->kind);
    uint32_t account = LOAD(&entry->account);
    uint32_t currency = LOAD(&entry->currency);
    uint32_t in_use = LOAD(&header->account_count);
    if (seq == 0 || LOAD(&entry->seq) != seq || (kind != SHMX_ENTRY_BUY && kind != SHMX_ENTRY_SELL) ||
        account >= (in_use < market->capacity ? in_use : market->capacity) ||
        currency >= market->currencies)
        return -1;
    struct shmx_account *accounts = (void *)((unsigned char *)market->base + SHMX_HEADER_SIZE);
    struct shmx_currency *line = &header->currencies[currency];
    apply(header, &accounts[account], currency, seq, LOAD(&entry->stock), LOAD(&entry->holding),
          LOAD(&entry->balance), LOAD(&line->trade_cash), LOAD(&line->trade_count));
    end_write(header);
    return 0;
}

/* What the exchange charges for `amount` at `price`, rounded up to the
 * cent, or pays, rounded down (Price::cost_of, proceeds_of): in 64 bits
 * when the product fits, as the Rust does, else in 128; 0 on overflow. */
ALWAYS_INLINE static int cost_of(int64_t price, int64_t amount, int round_up, int64_t *out) {
    int64_t product;
    if (likely(!__builtin_mul_overflow(amount, price, &product))) {
        int64_t whole = product / 10000, rest = product % 10000;
        if (rest < 0) {
            whole -= 1;
            rest += 10000;
        }
        if (round_up && rest != 0)
            return !__builtin_add_overflow(whole, 1, out);
        *out = whole;
        return 1;
    }
    __int128 wide = (__int128)amount * price;
    __int128 whole = wide / 10000;
    __int128 rest = wide % 10000;
    if (rest < 0) {
        whole -= 1;
        rest += 10000;
    }
    if (round_up && rest != 0)
        whole += 1;
    if (whole > INT64_MAX || whole < INT64_MIN)
        return 0;
    *out = (int64_t)whole;
    return 1;
}

int shmx_c_trade(const struct shmx_market *market, uint32_t account, uint32_t serial,
                 uint32_t currency, int buy, int64_t amount, struct shmx_fill *fill) {
    if (amount <= 0)
        return SHMX_NOT_POSITIVE;
    if (currency >= market->currencies)
        return SHMX_CORRUPTED;
    struct shmx_header *header = market->base;
    pthread_mutex_t *mutex = &header->lock.mutex;
    int32_t kind = fresh_kind();
    if (LOAD(mutex_word(mutex, MUTEX_OWNER)) < 0 || LOAD(mutex_word(mutex, MUTEX_KIND)) != kind)
        return SHMX_LOCK_FAILED;
    int code = pthread_mutex_trylock(mutex);
    if (unlikely(code != 0)) {
        code = lock_contended(mutex, code);
        if (code != 0 && code != EOWNERDEAD)
            return SHMX_LOCK_FAILED;
    }
    STORE(mutex_word(mutex, MUTEX_HOLDER), (int32_t)market->caller);
    uintptr_t prev = LOAD(mutex_link(mutex, MUTEX_LIST_PREV));
    uintptr_t next_link = LOAD(mutex_link(mutex, MUTEX_LIST_NEXT));
    int result = SHMX_TRADED;
    if (unlikely(code == EOWNERDEAD)) {
        int repaired = replay(market);
        if (repaired != 0)
            __atomic_store_n(&header->state, SHMX_STATE_POISONED, __ATOMIC_RELEASE);
        if (pthread_mutex_consistent(mutex) != 0 || repaired != 0) {
            result = SHMX_REPAIR_FAILED;
            goto unlock;
        }
    }
    uint32_t state = LOAD(&header->state);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (unlikely(state != SHMX_STATE_READY)) {
        result = SHMX_NOT_READY;
        goto unlock;
    }
    if (LOAD(&header->flags) & SHMX_FLAG_HALTED) {
        result = SHMX_HALTED;
        goto unlock;
    }
    uint64_t round_end = LOAD(&header->round_end);
    if (round_end != 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if ((uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 >= round_end) {
            result = SHMX_ROUND_OVER;
            goto unlock;
        }
    }
    uint32_t count = __atomic_load_n(&header->account_count, __ATOMIC_ACQUIRE);
    if (count > market->capacity || account >= count) {
        result = SHMX_CORRUPTED;
        goto unlock;
    }
    struct shmx_account *slot =
        (struct shmx_account *)((unsigned char *)market->base + SHMX_HEADER_SIZE) + account;
    if (LOAD(&slot->status) != SHMX_ACCOUNT_OPEN || LOAD(&slot->serial) != serial) {
        result = SHMX_ACCOUNT_CLOSED;
        goto unlock;
    }
    if (LOAD(&slot->owner) != market->caller && !market->privileged) {
        result = SHMX_NOT_YOURS;
        goto unlock;
    }
    struct shmx_currency *line = &header->currencies[currency];
    int64_t sell = LOAD(&line->sell), buy_price = LOAD(&line->buy);
    int64_t stock = LOAD(&line->stock), holding = LOAD(&slot->holdings[currency]);
    int64_t balance = LOAD(&slot->balance), cash = LOAD(&header->lock.cash);
    int64_t price, total;
    if (sell <= 0 || buy_price <= 0) {
        result = SHMX_NOT_POSITIVE;
        goto unlock;
    }
    if (buy) {
        price = sell;
        if (!cost_of(price, amount, 1, &total)) {
            result = SHMX_OVERFLOW;
            goto unlock;
        }
        if (balance < total) {
            *fill = (struct shmx_fill){price, total, balance};
            result = SHMX_NO_BALANCE;
            goto unlock;
        }
        if (stock < amount) {
            *fill = (struct shmx_fill){price, amount, stock};
            result = SHMX_NO_STOCK;
            goto unlock;
        }
        if (__builtin_sub_overflow(stock, amount, &stock) ||
            __builtin_add_overflow(holding, amount, &holding) ||
            __builtin_sub_overflow(balance, total, &balance) ||
            __builtin_add_overflow(cash, total, &cash)) {
            result = SHMX_OVERFLOW;
            goto unlock;
        }
    } else {
        price = buy_price;
        if (!cost_of(price, amount, 0, &total)) {
            result = SHMX_OVERFLOW;
            goto unlock;
        }
        if (holding < amount) {
            *fill = (struct shmx_fill){price, amount, holding};
            result = SHMX_NO_HOLDING;
            goto unlock;
        }
        if (total <= 0) {
            *fill = (struct shmx_fill){price, total, 0};
            result = SHMX_NOTHING_PAID;
            goto unlock;
        }
        if (cash < total) {
            *fill = (struct shmx_fill){price, total, cash};
            result = SHMX_NO_CASH;
            goto unlock;
        }
        if (__builtin_add_overflow(stock, amount, &stock) ||
            __builtin_sub_overflow(holding, amount, &holding) ||
            __builtin_add_overflow(balance, total, &balance) ||
            __builtin_sub_overflow(cash, total, &cash)) {
            result = SHMX_OVERFLOW;
            goto unlock;
        }
    }
    uint32_t trades;
    if (__builtin_add_overflow(LOAD(&slot->trades), 1u, &trades)) {
        result = SHMX_OVERFLOW;
        goto unlock;
    }
    /* 0. The tape entry, with the redo; readers skip it until trade_seq. */
    uint64_t seq = next_seq(LOAD(&header->lock.trade_seq));
    struct shmx_entry *entry = tape_slot(header, seq);
    STORE(&entry->seq, 0);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    STORE(&entry->account, (uint16_t)account);
    STORE(&entry->currency, (uint8_t)currency);
    STORE(&entry->kind, buy ? SHMX_ENTRY_BUY : SHMX_ENTRY_SELL);
    STORE(&entry->serial, serial);
    STORE(&entry->amount, amount);
    STORE(&entry->price, price);
    STORE(&entry->total, total);
    STORE(&entry->stock, stock);
    STORE(&entry->holding, holding);
    STORE(&entry->balance, balance);
    __atomic_store_n(&entry->seq, seq, __ATOMIC_RELEASE);
    /* 1. The rest of the redo on the currency's line; published by an odd
     *    write_seq, 3 (mod 4): a trade is pending. */
    STORE(&line->trade_cash, cash);
    STORE(&line->trade_count, trades);
    uint64_t write_seq = LOAD(&header->lock.write_seq) | 1;
    if (write_seq % 4 != 3)
        write_seq += 2;
    __atomic_store_n(&header->lock.write_seq, write_seq, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    /* 2. Applied. 3. write_seq even again. */
    apply(header, slot, currency, seq, stock, holding, balance, cash, trades);
    end_write(header);
    fill->price = price;
    fill->total = total;
    fill->balance = balance;
unlock:
    STORE(mutex_link(mutex, MUTEX_LIST_PREV), prev);
    STORE(mutex_link(mutex, MUTEX_LIST_NEXT), next_link);
    STORE(mutex_word(mutex, MUTEX_KIND), kind);
    pthread_mutex_unlock(mutex);
    if (result == SHMX_TRADED && __atomic_load_n(&header->watchers, __ATOMIC_ACQUIRE) != 0) {
        long woken = syscall(SYS_futex, (uint32_t *)&header->lock.write_seq, FUTEX_WAKE, INT_MAX,
                             NULL, NULL, 0);
        if (woken > 0) {
            if (LOAD(&header->idle_wakes) != 0)
                STORE(&header->idle_wakes, 0);
        } else if (__atomic_fetch_add(&header->idle_wakes, 1, __ATOMIC_RELAXED) >=
                   FORGET_WATCHERS_AFTER) {
            __atomic_store_n(&header->watchers, 0, __ATOMIC_RELEASE);
            STORE(&header->idle_wakes, 0);
        }
    }
    return result;
}

/* SplitMix64 and Lemire's bounded draw, as shared/stress.rs's SplitMix64. */
ALWAYS_INLINE static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

ALWAYS_INLINE static uint64_t below(uint64_t *state, uint64_t bound) {
    return (uint64_t)(((unsigned __int128)next_random(state) * bound) >> 64);
}

/* A refusal by the market's rules, which a run counts and goes on from;
 * any other outcome but a trade stops it. */
ALWAYS_INLINE static int is_refusal(int outcome) {
    return outcome >= SHMX_NOT_POSITIVE && outcome <= SHMX_NOTHING_PAID;
}

int shmx_c_run(const struct shmx_market *market, const struct shmx_work *work,
               struct shmx_tally *tally) {
    struct shmx_fill fill = {0, 0, 0};
    uint64_t random = work->seed;
    uint32_t currency = work->currency;
    int64_t amount = work->amount;
    int bought = 0;
    tally->traded = 0;
    tally->refused = 0;
    for (uint64_t done = 0; done < work->trades; done++) {
        int buy;
        if (work->pairs) {
            buy = !bought;
            if (buy) {
                currency = (uint32_t)below(&random, market->currencies);
                amount = 1 + (int64_t)below(&random, 100);
            }
        } else {
            buy = done % 2 == 0;
        }
        int outcome = shmx_c_trade(market, work->account, work->serial, currency, buy, amount, &fill);
        if (likely(outcome == SHMX_TRADED)) {
            tally->traded++;
            bought = buy;
        } else if (work->pairs && is_refusal(outcome)) {
            tally->refused++;
            bought = 0;
        } else {
            tally->fill = fill;
            return outcome;
        }
    }
    tally->fill = fill;
    return SHMX_TRADED;
}
