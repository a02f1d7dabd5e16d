#!/usr/bin/env bash
# PostgreSQL's own floor for a year of data set M's snapshots: 365 days of 111,884 rows in
# the day-first layout (migration 9), written by plain SQL from a table, with no KPI
# computed and nothing sent from a client. A Tally year on PostgreSQL cannot be faster
# than this on the same server without storing fewer or narrower rows. BENCHMARKS.md (KPI
# engine) has the figures.
#   bash examples/postgres_year_floor.sh [postgres://postgres@127.0.0.1:5432]
# (DAYS=N for the first N days only.)
# It works in the database tally_year_floor, dropped at the end: the three tables of a year
# take about 40 GB. Four timed parts:
#   1. every day into an empty table, one day a transaction, one backend;
#   2. every day replaced (delete + insert in one transaction), as a recompute does;
#   3. part 1 with the days split over two backends at once (odd and even days);
#   4. part 1 with the key narrowed to (tenant, day, series id): a schema Tally does not have.
set -euo pipefail
server=${1:-postgres://postgres@127.0.0.1:5432}
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
CREATE TABLE wide2 (LIKE wide INCLUDING ALL);
CREATE TABLE narrow (tenant_id varchar(63) NOT NULL, day date NOT NULL, series_id int NOT NULL,
  $rest, PRIMARY KEY (tenant_id, day, series_id));
SQL
row="'bench', DATE '2026-01-01' + DAY, kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src"
timed "1. year into empty days, one backend" \
    run < <(days 0 1 "INSERT INTO wide SELECT $row;")
timed "2. year replacing every day, one backend" \
    run < <(days 0 1 "BEGIN; DELETE FROM wide WHERE tenant_id = 'bench' AND day = DATE '2026-01-01' + DAY; INSERT INTO wide SELECT $row; COMMIT;")
both() {
    run < <(days 0 2 "INSERT INTO wide2 SELECT $row;") &
    run < <(days 1 2 "INSERT INTO wide2 SELECT $row;")
    wait
}
timed "3. year into empty days, two backends" both
narrow_row="'bench', DATE '2026-01-01' + DAY, series, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src"
timed "4. year into empty days, narrow key" \
    run < <(days 0 1 "INSERT INTO narrow SELECT $narrow_row;")
