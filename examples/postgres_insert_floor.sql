-- The floor of writing one day of data set M on PostgreSQL: 111,884 snapshot rows in the
-- day-first layout (migration 9), inserted from a table rather than bound values, into an
-- empty day and over a written one; table b has the text key columns in COLLATE "C".
-- BENCHMARKS.md (KPI engine) has the figures.
--   psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE tally_floor"
--   psql -h 127.0.0.1 -U postgres -d tally_floor -f examples/postgres_insert_floor.sql
\timing on
DROP TABLE IF EXISTS a, b, src;
CREATE TABLE src AS SELECT format('kpi_%s', lpad((i % 40)::text, 2, '0')) AS kpi, format('channels/ch-%s', lpad((i / 40)::text, 6, '0')) AS scope, CASE WHEN i % 7 = 0 THEN 'seg-a' ELSE '' END AS seg, i * 1.5 AS v FROM generate_series(0, 111883) i ORDER BY 1, 2, 3;
CREATE TABLE a (tenant_id varchar(63) NOT NULL, day date NOT NULL, kpi_id varchar(128) NOT NULL, scope varchar(200) NOT NULL, segment_id varchar(63) NOT NULL, value float8, reason varchar(32), numerator float8, denominator float8, definition_version int NOT NULL, run_id varchar(64) NOT NULL, compute_time timestamptz NOT NULL, PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id));
CREATE TABLE b (tenant_id varchar(63) COLLATE "C" NOT NULL, day date NOT NULL, kpi_id varchar(128) COLLATE "C" NOT NULL, scope varchar(200) COLLATE "C" NOT NULL, segment_id varchar(63) COLLATE "C" NOT NULL, value float8, reason varchar(32), numerator float8, denominator float8, definition_version int NOT NULL, run_id varchar(64) NOT NULL, compute_time timestamptz NOT NULL, PRIMARY KEY (tenant_id, day, kpi_id, scope, segment_id));
-- Ten days stored first, as a table with history is written; then the timed days.
INSERT INTO a SELECT 'bench', DATE '2026-01-01' + d, kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src, generate_series(0, 9) d;
INSERT INTO b SELECT 'bench', DATE '2026-01-01' + d, kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src, generate_series(0, 9) d;
INSERT INTO a SELECT 'bench', DATE '2026-02-01', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
INSERT INTO b SELECT 'bench', DATE '2026-02-01', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
INSERT INTO a SELECT 'bench', DATE '2026-02-02', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
INSERT INTO b SELECT 'bench', DATE '2026-02-02', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
-- A written day replaced: delete, then insert.
DELETE FROM a WHERE day = DATE '2026-02-02';
INSERT INTO a SELECT 'bench', DATE '2026-02-02', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
DELETE FROM b WHERE day = DATE '2026-02-02';
INSERT INTO b SELECT 'bench', DATE '2026-02-02', kpi, scope, seg, v, NULL, v, 2, 1, 'f3a9c2d4e5b6a7980112233445566778', now() FROM src;
