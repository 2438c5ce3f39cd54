-- amber store schema, version 7: task IDs are ordered byte by byte
-- (COLLATE "C") in their columns, not only in the queries that list them.
--
-- Version 3 listed tasks in byte order through an index of its own,
-- tasks_id (id COLLATE "C"), beside the primary key in the database's
-- collation: every task row had two entries keyed by its ID, and since a
-- step's UPDATE changes status and lease (never a HOT update), every step
-- that ends a task wrote both again. With id itself in byte order the
-- primary key serves the listing and tasks_id goes: one index entry less
-- per insert and per update of a task.
--
-- Every column that holds a task ID and is compared with tasks.id (or
-- joined with it) moves to the same collation, so that the comparisons
-- keep one collation and their indexes serve them. Changing a column's
-- collation alone rewrites no table; the indexes on it are rebuilt. The
-- view depends on tasks.id, so it is made again.

DROP VIEW tasks_view;
DROP INDEX tasks_id;

ALTER TABLE tasks ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE journal ALTER COLUMN task_id TYPE text COLLATE "C";
ALTER TABLE mailbox ALTER COLUMN task_id TYPE text COLLATE "C";
ALTER TABLE links
    ALTER COLUMN owner TYPE text COLLATE "C",
    ALTER COLUMN target TYPE text COLLATE "C";
ALTER TABLE world_waits ALTER COLUMN task_id TYPE text COLLATE "C";

CREATE VIEW tasks_view AS
SELECT id, program, program_version, status, reason, parent, version, journal_len, mailbox_seq,
       ready, cancel, lease_owner, lease_epoch,
       to_timestamp(lease_until / 1e9) AS lease_until,
       to_timestamp(run_at / 1e9) AS run_at,
       to_timestamp(created / 1e9) AS created,
       to_timestamp(updated / 1e9) AS updated,
       name, trap, runs
FROM tasks;

-- Room on each page of tasks for the new versions of its rows. A step's
-- UPDATE changes indexed columns (status, lease), so it is never a HOT
-- update, but a new version that fits on its page dirties that page
-- alone; one that does not also dirties a second page and writes a lock
-- record first. On 2,000 one-step tasks (pg_walinspect): lock records
-- 1.6-1.9 a task at fillfactor 100 (one is the commit's own FOR UPDATE),
-- 1.1 at 60; WAL 1,337 -> 1,298 bytes a task. Pages written from now on
-- keep 40% free; existing ones stay as they are.
ALTER TABLE tasks SET (fillfactor = 60);
