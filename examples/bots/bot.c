/* A trading bot in C that speaks the trader's text mode through pipes.
 *
 * It starts `trader --script -` as a child, writes one command a line to
 * its stdin and reads one line a command from its stdout (the child's
 * stderr goes to the same pipe, so a refusal is one `error: ...` line).
 * After each change of the market (`wait`), it buys 1 of the first
 * currency when its buy price rose and sells 1 when it fell.
 *
 *   cc -O2 -o bot examples/bots/bot.c
 *   ./bot --segment posix:/class --name ana:bot --for 5m [--trader PATH]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static FILE *to_trader, *from_trader;

/* Sends one command and reads its one-line answer into `answer`. */
static int ask(const char *command, char *answer, size_t size) {
    fprintf(to_trader, "%s\n", command);
    fflush(to_trader);
    if (!fgets(answer, (int)size, from_trader))
        return -1;
    answer[strcspn(answer, "\n")] = '\0';
    return strncmp(answer, "error:", 6) == 0 ? 1 : 0;
}

static long seconds_of(const char *text) {
    char *unit;
    long n = strtol(text, &unit, 10);
    if (n <= 0 || unit == text)
        return -1;
    if (strcmp(unit, "s") == 0) return n;
    if (strcmp(unit, "m") == 0) return n * 60;
    if (strcmp(unit, "h") == 0) return n * 3600;
    return -1;
}

int main(int argc, char **argv) {
    const char *segment = NULL, *name = NULL, *length = NULL, *trader = "trader";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--segment") == 0) segment = argv[i + 1];
        else if (strcmp(argv[i], "--name") == 0) name = argv[i + 1];
        else if (strcmp(argv[i], "--for") == 0) length = argv[i + 1];
        else if (strcmp(argv[i], "--trader") == 0) trader = argv[i + 1];
    }
    long secs = length ? seconds_of(length) : -1;
    if (!segment || !name || secs < 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: %s --segment SEG --name NAME --for DURATION [--trader PATH]\n", argv[0]);
        return 2;
    }

    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
        perror("pipe");
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        execlp(trader, trader, "--segment", segment, "--name", name, "--script", "-", (char *)NULL);
        perror(trader);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_trader = fdopen(in[1], "w");
    from_trader = fdopen(out[0], "r");

    char answer[8192], currency[64] = "", command[128];
    double last = 0;
    int trades = 0;
    time_t end = time(NULL) + secs;
    while (time(NULL) < end) {
        long left_ms = (long)(end - time(NULL)) * 1000;
        snprintf(command, sizeof command, "wait %ld", left_ms < 1000 ? left_ms : 1000);
        if (ask(command, answer, sizeof answer) < 0)
            break;
        /* "DOLLAR sell 13.72 buy 13.40 stock 9990.00; EURO sell ..." */
        double sell, buy;
        if (ask("rates", answer, sizeof answer) != 0 ||
            sscanf(answer, "%63s sell %lf buy %lf", currency, &sell, &buy) != 3)
            break;
        if (last > 0 && buy != last) {
            snprintf(command, sizeof command, "%s %s 1", buy > last ? "buy" : "sell", currency);
            int refused = ask(command, answer, sizeof answer);
            if (refused < 0)
                break;
            if (refused == 0)
                trades++;
            else if (strstr(answer, "the round ended"))
                break;
        }
        last = buy;
    }
    if (ask("portfolio", answer, sizeof answer) == 0)
        printf("done: %d trades; %s\n", trades, answer);
    fprintf(to_trader, "quit\n");
    fclose(to_trader);
    fclose(from_trader);
    int status;
    waitpid(child, &status, 0);
    return 0;
}
