#!/usr/bin/env bash
# PostgreSQL's own floor for a year of data set M's snapshots: 365 days of 111,884 rows,
# written by plain SQL from a table, with no KPI computed and nothing sent from a client. A
# Tally year on PostgreSQL cannot be faster than this on the same server without storing
# fewer or narrower rows. Both shapes are timed in the same run: the wide row of migration 9
# and the compact rows of migration m20261208_000010 (series numbers, reason codes, the run
# and definition version once per day and KPI).
#   bash examples/postgres_year_floor.sh [postgres://postgres@127.0.0.1:5432]
# (DAYS=N for the first N days only; WIDE=0 skips the wide shape.)
# It works in the database tally_year_floor, dropped at the end: the wide tables of a year
# take about 25 GB, the compact one about 5 GB. Timed parts:
#   1. wide: every day into an empty table, one day a transaction, one backend;
#   2. wide: every day replaced (delete + insert in one transaction), as a recompute did;
#   3. compact: every day into an empty table, with its 40 rows of runs;
#   4. compact: every day replaced (runs and values deleted and inserted).
set -euo pipefail
server=${1:-postgres://postgres@127.0.0.1:5432}
# The wide tables of a year need about 25 GB: without room for them, only the compact shape.
free_gb=$(df -BG --output=avail "$(psql "$server/postgres" -qAtc 'SHOW data_directory' 2>/dev/null || echo /)" 2>/dev/null | tail -n 1 | tr -dc 0-9)
if [[ ${WIDE:-1} != 0 && ${free_gb:-0} -lt 40 ]]; then
    echo "only ${free_gb:-?} GB free: the wide shape (about 25 GB) is skipped" >&2
    WIDE=0
fi
db=tally_year_floor
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db"' EXIT
run() { psql "$server/$db" -qX -v ON_ERROR_STOP=1 "$@" >/dev/null; }
timed() {
    local label=$1
    shift
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    printf '%-48s %8.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}
# The statements of every `step`th day from `from`, DAY in `template` replaced by the
# day's offset from 1 January; psql runs them one by one, each its own transaction.
days() {
    local from=$1 step=$2 template=$3 d
    for ((d = from; d < ${DAYS:-365}; d += step)); do echo "${template//DAY/$d}"; done
}
columns="tenant_id varchar(63) NOT NULL, day date NOT NULL, kpi_id varchar(128) NOT NULL,
  scope varchar(200) NOT NULL, segment_id varchar(63) NOT NULL"
rest="value float8, reason varchar(32), numerator float8, denominator float8,
  definition_version int NOT NULL, run_id varchar(64) NOT NULL, compute_time timestamptz NOT NULL"
run <<SQL
CREATE TABLE src AS SELECT format('kpi_%s', lpad((i % 40)::text, 2, '0')) AS kpi,
  format('channels/ch-%s', lpad((i / 40)::text, 6, '0')) AS scope,
  CASE WHEN i % 7 = 0 THEN 'seg-a' ELSE '' END AS seg, i * 1.5 AS v,
  row_number() OVER (ORDER BY i) AS series
  FROM generate_series(0, 111883) i ORDER BY 1, 2, 3;
CREATE TABLE wide ($columns, $rest, PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id));
CREATE TABLE compact (tenant_id varchar(63) NOT NULL, day date NOT NULL, series_id int NOT NULL,
  value float8, reason int2, numerator float8, denominator float8,
  PRIMARY KEY (tenant_id, day, series_id));
CREATE TABLE runs (tenant_id varchar(63) NOT NULL, day date NOT NULL, kpi_id varchar(128) NOT NULL,
  grain varchar(8) NOT NULL, run_id varchar(64) NOT NULL, definition_version int NOT NULL,
  PRIMARY KEY (tenant_id, day, kpi_id, grain));
SQL
row="'bench', DATE '2026-01-01' + DAY, kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src"
if [[ ${WIDE:-1} != 0 ]]; then
    timed "1. wide: year into empty days" \
        run < <(days 0 1 "INSERT INTO wide SELECT $row;")
    timed "2. wide: year replacing every day" \
        run < <(days 0 1 "BEGIN; DELETE FROM wide WHERE tenant_id = 'bench' AND day = DATE '2026-01-01' + DAY; INSERT INTO wide SELECT $row; COMMIT;")
    run -c "DROP TABLE wide"
fi
# A day of compact rows: the run of each of its 40 KPIs, then its values by series number.
runs="INSERT INTO runs SELECT 'bench', DATE '2026-01-01' + DAY, format('kpi_%s', lpad(k::text, 2, '0')), 'DAY', 'f3a9c2d4e5b6a7980112233445566778', 1 FROM generate_series(0, 39) k;"
values="INSERT INTO compact SELECT 'bench', DATE '2026-01-01' + DAY, series, v, NULL, v, 2 FROM src;"
timed "3. compact: year into empty days" \
    run < <(days 0 1 "BEGIN; $runs $values COMMIT;")
timed "4. compact: year replacing every day" \
    run < <(days 0 1 "BEGIN; DELETE FROM runs WHERE tenant_id = 'bench' AND day = DATE '2026-01-01' + DAY AND grain = 'DAY'; $runs DELETE FROM compact WHERE tenant_id = 'bench' AND day = DATE '2026-01-01' + DAY; $values COMMIT;")
psql "$server/$db" -qXAtc "SELECT 'compact table and key: ' || pg_size_pretty(pg_total_relation_size('compact'))"
