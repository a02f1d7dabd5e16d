#!/usr/bin/env bash
# Ingest of ROWS orders through `tally serve` + `tally ingest` (release build), against the
# database's own floor for writing the same rows into the same tables, on SQLite and
# PostgreSQL, REPEATS times each, the runs of Tally and of the floor interleaved so that
# the machine's load weighs on both alike. BENCHMARKS.md (ingest) has the figures.
#
#   examples/ingest_floor.sh                  # 1,000,000 orders, 3 repeats, both databases
#   ROWS=100000 REPEATS=1 DBS=sqlite examples/ingest_floor.sh
#   WORK=/tmp/mine PG_DB=mine_floor PORT=51171 examples/ingest_floor.sh   # beside other runs
#
# The floor is measured in the tables `tally migrate` makes (same keys, same indexes):
# - PostgreSQL: `\copy` of the orders and their codes, already in the tables' shape, in one
#   transaction;
# - SQLite: the sqlite3 shell's `.import` (one prepared INSERT, each row bound) of the same
#   two files in one transaction, with the pragmas Tally's connections set.
# The converted files are made once, before any timing, from the same CSV that Tally reads.
#
# Tally's side is the wall time of `tally ingest` against a server started on an empty,
# migrated database; the server's peak anonymous memory (RssAnon, sampled every 0.1 s) and
# VmHWM are read from /proc while it runs, and at the end the CPU time of the server and,
# on PostgreSQL, of its backends (which tells where the time went: SQLite runs inside the
# server).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-1000000}
REPEATS=${REPEATS:-3}
DBS=${DBS:-"sqlite postgres"}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-tally_ingest_floor}
PORT=${PORT:-51071}
WORK=${WORK:-/tmp/ingest_floor}
PROFILE=${PROFILE:-release}
BIN=target/$PROFILE/tally
mkdir -p "$WORK"

# NO_BUILD=1 measures the binaries as they are (built beforehand, say under nice).
[ "$PROFILE" = release ] && [ -z "${NO_BUILD:-}" ] &&
  cargo build --release --quiet --bin tally --example generate_orders
CSV="$WORK/orders-$ROWS.csv"
[ -s "$CSV" ] || "target/$PROFILE/examples/generate_orders" "$ROWS" >"$CSV"

export TALLY_LISTEN_ADDR=127.0.0.1:$PORT
export TALLY_SCHEDULER_ENABLED=false
export TALLY_MIGRATE_ON_START=false
export TALLY_LOG=warn
# Orders here carry customer ids, no e-mail addresses: the key is never used.
export TALLY_CUSTOMER_KEY_SECRET=ingest-floor-benchmark-only-secret

# The tenant id `tally admin create-tenant` gives is random; the floor rows carry one of
# the same length.
TENANT=floor-tenant-000000000000
FLOOR_ORDERS="$WORK/floor-orders-$ROWS.csv"
FLOOR_CODES="$WORK/floor-codes-$ROWS.csv"
if [ ! -s "$FLOOR_ORDERS" ] || [ ! -s "$FLOOR_CODES" ]; then
  psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS ${PG_DB}_prep" -c "CREATE DATABASE ${PG_DB}_prep"
  # Times as sqlx writes them to SQLite (RFC 3339, +00:00), which PostgreSQL reads as well.
  psql -q -v ON_ERROR_STOP=1 "$PG_BASE/${PG_DB}_prep" <<SQL
CREATE TABLE raw (order_id text, customer_id text, placed_at timestamptz, currency text,
  revenue numeric, cost numeric, discount numeric, codes text, utm_source text,
  utm_medium text, utm_campaign text);
\copy raw FROM '$CSV' CSV HEADER
\copy (SELECT '$TENANT', order_id, 'c:' || customer_id, to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), to_char((placed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), (revenue * 100)::bigint, (cost * 100)::bigint, (discount * 100)::bigint, currency, utm_source, utm_medium, utm_campaign, lower(utm_source), lower(utm_campaign), '2026-12-07T18:00:00.123456+00:00' FROM raw) TO '$FLOOR_ORDERS' CSV
\copy (SELECT '$TENANT', order_id, 0, codes, lower(trim(codes)) FROM raw WHERE codes <> '') TO '$FLOOR_CODES' CSV
SQL
  psql -q "$PG_BASE/postgres" -c "DROP DATABASE ${PG_DB}_prep"
fi

now() { date +%s.%N; }

# A fresh, migrated database for one run.
fresh() {
  case $1 in
    sqlite)
      rm -f "$WORK/bench.db" "$WORK/bench.db-wal" "$WORK/bench.db-shm"
      export TALLY_DATABASE_URL="sqlite://$WORK/bench.db"
      ;;
    postgres)
      psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
      export TALLY_DATABASE_URL="$PG_BASE/$PG_DB"
      ;;
  esac
  "$BIN" migrate >/dev/null 2>&1
}

# CPU seconds (user + system) of the processes named, from /proc.
cpu_of() {
  local ticks=0 t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    ticks=$((ticks + t))
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}

# Prints "seconds peak_rss_anon_kib vm_hwm_kib client_cpu_seconds server_cpu_seconds
# backend_cpu_seconds" of one `tally ingest` run: the client's CPU (user + system) against
# the wall time tells whether it keeps up; the backends' CPU is 0 on SQLite.
tally_run() {
  fresh "$1"
  local key server sampler start end
  key=$("$BIN" admin create-tenant "Ingest floor" 2>/dev/null | tail -n 1)
  "$BIN" serve >"$WORK/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  (
    peak=0
    while [ -r "/proc/$server/status" ]; do
      anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
      [ "${anon:-0}" -gt "$peak" ] && peak=$anon && echo "$peak" >"$WORK/anon"
      sleep 0.1
    done
  ) &
  sampler=$!
  start=$(now)
  /usr/bin/time -f "%U %S %M" -o "$WORK/client.time" \
    "$BIN" ingest --kind orders --file "$CSV" --addr "http://127.0.0.1:$PORT" --api-key "$key" \
    >"$WORK/ingest.log" 2>&1
  end=$(now)
  local hwm server_cpu backend_cpu=0
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
  server_cpu=$(cpu_of "$server")
  if [ "$1" = postgres ]; then
    # shellcheck disable=SC2046
    backend_cpu=$(cpu_of $(psql -Atq "$PG_BASE/postgres" -c \
      "SELECT pid FROM pg_stat_activity WHERE datname = '$PG_DB' AND pid <> pg_backend_pid()"))
  fi
  kill "$server"
  wait "$server" || true
  wait "$sampler" || true
  read -r user sys _ <"$WORK/client.time"
  echo "$(echo "$end - $start" | bc) $(cat "$WORK/anon") $hwm $(echo "$user + $sys" | bc) $server_cpu $backend_cpu"
}

# Prints the seconds of one floor run.
floor_run() {
  fresh "$1"
  local start end
  case $1 in
    sqlite)
      start=$(now)
      sqlite3 "$WORK/bench.db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA cache_size=-32768;
PRAGMA mmap_size=1073741824;
PRAGMA wal_autocheckpoint=32768;
BEGIN IMMEDIATE;
.import --csv $FLOOR_ORDERS orders
.import --csv $FLOOR_CODES order_codes
COMMIT;
SQL
      end=$(now)
      ;;
    postgres)
      start=$(now)
      psql -q -v ON_ERROR_STOP=1 "$TALLY_DATABASE_URL" <<SQL
BEGIN;
\copy orders (tenant_id, order_id, customer_key, placed_at, day, revenue_minor, cost_minor, discount_minor, currency, utm_source, utm_medium, utm_campaign, source_key, campaign_key, update_time) FROM '$FLOOR_ORDERS' CSV
\copy order_codes (tenant_id, order_id, position, code, code_key) FROM '$FLOOR_CODES' CSV
COMMIT;
SQL
      end=$(now)
      ;;
  esac
  echo "$end - $start" | bc
}

# min/median/max of the arguments.
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%s/%s/%s", v[1], v[int((NR+1)/2)], v[NR]}'; }
rate() { echo "$ROWS / $1" | bc; }

echo "uptime at start: $(uptime)"
for db in $DBS; do
  tally_s=() floor_s=() anon=() hwm=() client=() server=() backend=()
  for i in $(seq "$REPEATS"); do
    read -r s a h c sc be < <(tally_run "$db")
    tally_s+=("$s") anon+=("$a") hwm+=("$h") client+=("$c") server+=("$sc") backend+=("$be")
    f=$(floor_run "$db")
    floor_s+=("$f")
    echo "$db run $i: tally ${s}s ($(rate "$s") rows/s, RssAnon peak ${a} KiB, VmHWM ${h} KiB, CPU client ${c}s server ${sc}s backends ${be}s), floor ${f}s ($(rate "$f") rows/s)"
  done
  t_med=$(stats "${tally_s[@]}" | cut -d/ -f2)
  f_med=$(stats "${floor_s[@]}" | cut -d/ -f2)
  rates_t=() rates_f=()
  for s in "${tally_s[@]}"; do rates_t+=("$(rate "$s")"); done
  for s in "${floor_s[@]}"; do rates_f+=("$(rate "$s")"); done
  echo "$db: tally rows/s min/median/max $(stats "${rates_t[@]}"); floor $(stats "${rates_f[@]}");" \
    "ratio of medians $(echo "scale=2; $f_med / $t_med" | bc);" \
    "server RssAnon peak KiB $(stats "${anon[@]}"), VmHWM KiB $(stats "${hwm[@]}");" \
    "CPU s client $(stats "${client[@]}"), server $(stats "${server[@]}"), backends $(stats "${backend[@]}")"
done
echo "uptime at end: $(uptime)"
[ "${KEEP_DB:-}" ] || psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB"
