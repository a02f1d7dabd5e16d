#!/usr/bin/env bash
# SQLite's own floor for a year of data set M's snapshots, the companion of
# postgres_year_floor.sh: 365 days of 111,884 rows written by the sqlite3 shell from a
# table, one day a transaction, with Tally's pragmas (WAL, synchronous NORMAL, a 32 MiB
# cache, 1 GiB of mmap) and its tables (`WITHOUT ROWID`, day first). Both shapes are timed
# in the same run: the wide row of migration 9 and the compact rows of migration
# m20261208_000010.
#   bash examples/sqlite_year_floor.sh [directory for the database file, default /tmp]
# (DAYS=N for the first N days only; WIDE=0 skips the wide shape.) The file is deleted at
# the end. Timed parts:
#   1. wide: every day into an empty table;
#   2. wide: every day replaced (delete + insert in one transaction);
#   3. compact: every day into an empty table, with its 40 rows of runs;
#   4. compact: every day replaced (runs and values deleted and inserted).
set -euo pipefail
dir=${1:-/tmp}
db=$(mktemp "$dir/tally_year_floor.XXXXXX.db")
trap 'rm -f "$db" "$db-wal" "$db-shm"' EXIT
pragmas="PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;
PRAGMA mmap_size = 1073741824;"
run() { (echo "$pragmas" && cat) | sqlite3 -bail "$db" >/dev/null; }
timed() {
    local label=$1
    shift
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    printf '%-48s %8.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}
# The statements of every day, DAY in `template` replaced by the day's offset from
# 1 January; the shell runs them one by one.
days() {
    local template=$1 d
    for ((d = 0; d < ${DAYS:-365}; d += 1)); do echo "${template//DAY/$d}"; done
}
run <<SQL
CREATE TABLE src AS WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 111883)
  SELECT printf('kpi_%02d', i % 40) AS kpi, printf('channels/ch-%06d', i / 40) AS scope,
  CASE WHEN i % 7 = 0 THEN 'seg-a' ELSE '' END AS seg, i * 1.5 AS v, 0 AS series FROM n;
CREATE TABLE src_sorted AS SELECT kpi, scope, seg, v,
  row_number() OVER (ORDER BY kpi, scope, seg) AS series FROM src ORDER BY kpi, scope, seg;
DROP TABLE src;
ALTER TABLE src_sorted RENAME TO src;
CREATE TABLE wide (tenant_id varchar(63) NOT NULL, day date NOT NULL,
  kpi_id varchar(128) NOT NULL, scope varchar(200) NOT NULL, segment_id varchar(63) NOT NULL,
  value real, reason varchar(32), numerator real, denominator real,
  definition_version integer NOT NULL, run_id varchar(64) NOT NULL,
  compute_time timestamp_with_timezone_text NOT NULL,
  PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id)) WITHOUT ROWID;
CREATE TABLE compact (tenant_id varchar(63) NOT NULL, day date NOT NULL,
  series_id integer NOT NULL, value real, reason smallint, numerator real, denominator real,
  PRIMARY KEY (tenant_id, day, series_id)) WITHOUT ROWID;
CREATE TABLE runs (tenant_id varchar(63) NOT NULL, day date NOT NULL,
  kpi_id varchar(128) NOT NULL, grain varchar(8) NOT NULL, run_id varchar(64) NOT NULL,
  definition_version integer NOT NULL, PRIMARY KEY (tenant_id, day, kpi_id, grain));
SQL
day="date('2026-01-01', '+DAY days')"
if [[ ${WIDE:-1} != 0 ]]; then
    row="'bench', $day, kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', datetime('now') FROM src"
    timed "1. wide: year into empty days" \
        run < <(days "INSERT INTO wide SELECT $row;")
    timed "2. wide: year replacing every day" \
        run < <(days "BEGIN; DELETE FROM wide WHERE tenant_id = 'bench' AND day = $day; INSERT INTO wide SELECT $row; COMMIT;")
    run <<<"DROP TABLE wide;"
fi
runs="INSERT INTO runs SELECT 'bench', $day, printf('kpi_%02d', k), 'DAY', 'f3a9c2d4e5b6a7980112233445566778', 1 FROM (WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 39) SELECT k FROM n);"
values="INSERT INTO compact SELECT 'bench', $day, series, v, NULL, v, 2 FROM src;"
timed "3. compact: year into empty days" \
    run < <(days "BEGIN; $runs $values COMMIT;")
timed "4. compact: year replacing every day" \
    run < <(days "BEGIN; DELETE FROM runs WHERE tenant_id = 'bench' AND day = $day AND grain = 'DAY'; $runs DELETE FROM compact WHERE tenant_id = 'bench' AND day = $day; $values COMMIT;")
echo "database file after the compact parts: $(du -h "$db" | cut -f1)"
