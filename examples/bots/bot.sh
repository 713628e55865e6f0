#!/bin/sh
# A bot in a few lines of shell: after each change of the market (or a
# second), buy 1 DOLLAR when its price fell, sell 1 when it rose.
#   examples/bots/bot.sh --segment posix:/class --name ana:bot --for 5m
# The trader program is $TRADER, else trader on the PATH.
set -u
while [ $# -gt 1 ]; do case $1 in
  --segment) seg=$2 ;; --name) name=$2 ;; --for) length=$2 ;;
  *) echo "usage: $0 --segment SEG --name NAME --for DURATION" >&2; exit 2 ;;
esac; shift 2; done
n=${length%?}; case $length in *s) secs=$n ;; *m) secs=$((n * 60)) ;; *h) secs=$((n * 3600)) ;; *) exit 2 ;; esac
t() { "${TRADER:-trader}" --segment "$seg" --name "$name" "$@"; }
end=$(($(date +%s) + secs)); last=
while [ "$(date +%s)" -lt "$end" ]; do
  t wait 1000 > /dev/null || exit 2
  price=$(t rates | awk '$1 == "DOLLAR" { print $3 }')
  if [ -n "$last" ] && [ "$price" != "$last" ]; then
    if awk "BEGIN { exit !($price < $last) }"; then t buy DOLLAR 1; else t sell DOLLAR 1; fi
  fi
  last=$price
done
