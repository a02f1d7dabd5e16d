-- The floor of writing one day of data set M on SQLite: 111,884 snapshot rows in the
-- day-first layout (migration 9), inserted from a table rather than bound values, with
-- and without the per-row compute_time, then from one JSON document. BENCHMARKS.md (KPI
-- engine) has the figures.
--   rm -f /tmp/floor.db && sqlite3 /tmp/floor.db < examples/sqlite_insert_floor.sql
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
-- a: the stored layout; b: without compute_time.
CREATE TABLE a (tenant_id TEXT NOT NULL, day TEXT NOT NULL, kpi_id TEXT NOT NULL, scope TEXT NOT NULL, segment_id TEXT NOT NULL, value REAL, reason TEXT, numerator REAL, denominator REAL, definition_version INTEGER NOT NULL, run_id TEXT NOT NULL, compute_time TEXT NOT NULL, PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id)) WITHOUT ROWID;
CREATE TABLE b (tenant_id TEXT NOT NULL, day TEXT NOT NULL, kpi_id TEXT NOT NULL, scope TEXT NOT NULL, segment_id TEXT NOT NULL, value REAL, reason TEXT, numerator REAL, denominator REAL, definition_version INTEGER NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id)) WITHOUT ROWID;
CREATE TABLE src AS WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 111883) SELECT printf('kpi_%02d', i % 40) AS kpi, printf('channel:ch-%06d', i / 40) AS scope, CASE WHEN i % 7 = 0 THEN 'seg-a' ELSE '' END AS seg, i * 1.5 AS v FROM n;
CREATE TABLE s2 AS SELECT * FROM src ORDER BY kpi, scope, seg;
.timer on
BEGIN; INSERT INTO a SELECT 'bench', '2026-01-01', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778', '2026-11-24 21:50:01.123456+00:00' FROM s2; COMMIT;
BEGIN; INSERT INTO b SELECT 'bench', '2026-01-01', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778' FROM s2; COMMIT;
BEGIN; INSERT INTO a SELECT 'bench', '2026-01-02', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778', '2026-11-24 21:50:01.123456+00:00' FROM s2; COMMIT;
BEGIN; INSERT INTO b SELECT 'bench', '2026-01-02', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778' FROM s2; COMMIT;
BEGIN; INSERT INTO a SELECT 'bench', '2026-01-03', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778', '2026-11-24 21:50:01.123456+00:00' FROM s2; COMMIT;
BEGIN; INSERT INTO b SELECT 'bench', '2026-01-03', kpi, scope, seg, v, NULL, v, 2.0, 1, 'f3a9c2d4e5b6a7980112233445566778' FROM s2; COMMIT;
-- The same rows read from one JSON document (json_each), as a bulk path binding one value
-- per statement would pass them.
.timer off
CREATE TABLE docs AS SELECT json_group_array(json_array(kpi, scope, seg, v, NULL, v, 2.0, 1)) AS doc FROM (SELECT * FROM s2 ORDER BY kpi, scope, seg);
.timer on
BEGIN; INSERT INTO a SELECT 'bench', '2026-01-05', j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, j.value->>7, 'f3a9c2d4e5b6a7980112233445566778', '2026-11-24 21:50:01.123456+00:00' FROM docs, json_each(docs.doc) AS j; COMMIT;
BEGIN; INSERT INTO a SELECT 'bench', '2026-01-06', j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, j.value->>7, 'f3a9c2d4e5b6a7980112233445566778', '2026-11-24 21:50:01.123456+00:00' FROM docs, json_each(docs.doc) AS j; COMMIT;
