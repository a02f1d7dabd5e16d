#!/usr/bin/env bash
# Issue 23's recompute figures on data set M for one database, with its floor measured in
# the same run: the year into empty days (3 times: the generating run, then twice after
# the snapshots are deleted), the year replacing every day (3 times), the one-day recompute
# of each of those runs, and the floor script of the same database between them, so that
# the machine's load weighs on Tally and on the floor alike.
#
#   bash examples/year_bench.sh sqlite   [/tmp/bench-m.db]
#   bash examples/year_bench.sh postgres [postgres://postgres@127.0.0.1:5432]
#
# Each line of the output comes from kpi_bench or from the floor script; BENCHMARKS.md
# gathers them. Needs the release build of the kpi_bench example.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=$1
bench=target/release/examples/kpi_bench
[ -x "$bench" ] || cargo build --release --quiet --example kpi_bench
case $kind in
  sqlite)
    file=${2:-/tmp/bench-m.db}
    url="sqlite://$file"
    rm -f "$file" "$file-wal" "$file-shm"
    clear() {
      sqlite3 "$file" "DELETE FROM kpi_values; DELETE FROM kpi_value_runs; DELETE FROM kpi_period_snapshots;"
    }
    floor() { bash examples/sqlite_year_floor.sh "$(dirname "$file")"; }
    ;;
  postgres)
    server=${2:-postgres://postgres@127.0.0.1:5432}
    url="$server/tally_bench_m"
    psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS tally_bench_m" -c "CREATE DATABASE tally_bench_m"
    clear() {
      psql -q "$url" -c "TRUNCATE kpi_values, kpi_value_runs, kpi_period_snapshots"
    }
    floor() { bash examples/postgres_year_floor.sh "$server"; }
    ;;
  *) echo "usage: $0 sqlite|postgres [file or server]" >&2; exit 2 ;;
esac
echo "== $kind: generate M, one day, year into empty days (run 1)"
"$bench" --db "$url" --size M
echo "== $kind: floor (wide and compact shapes), run 1"
floor
for run in 2 3; do
  clear
  echo "== $kind: year into empty days (run $run)"
  "$bench" --db "$url" --size M --reuse
  echo "== $kind: floor, compact shape only, run $run"
  WIDE=0 floor
done
for run in 1 2 3; do
  echo "== $kind: one day and year replacing every day (run $run)"
  "$bench" --db "$url" --size M --reuse
done
