-- amber store schema, version 3: durable promises under faults and at scale.
--
-- A checksum beside each journal entry and message: task.Checksum (CRC-32C)
-- of the stored bytes, checked when they are read back. Rows written before
-- this version have none (NULL) and are not checked.

ALTER TABLE journal ADD COLUMN sum bigint;
ALTER TABLE mailbox ADD COLUMN sum bigint;

-- World vars get the world clock of the commit that wrote them (0 for the
-- rows written before this version), and the world its clock: one row,
-- whose lock every commit that writes vars takes last, so that world
-- commits become visible in clock order (see world.go).
ALTER TABLE world ADD COLUMN clock bigint NOT NULL DEFAULT 0;
CREATE INDEX world_clock_idx ON world (clock);
CREATE TABLE world_clock (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    clock bigint NOT NULL
);
INSERT INTO world_clock (clock) VALUES (0);

-- A task and a world var keep the token of the step that last wrote them
-- (store.Step.Token), so that a worker that could not see a commit through
-- can ask whether it landed (Store.Landed).
ALTER TABLE tasks ADD COLUMN token bigint NOT NULL DEFAULT 0;
ALTER TABLE world ADD COLUMN token bigint NOT NULL DEFAULT 0;

-- A task counts its restarts by ContinueAsNew (task.Record.Runs).
ALTER TABLE tasks ADD COLUMN runs bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE VIEW tasks_view AS
SELECT id, program, program_version, status, reason, parent, version, journal_len, mailbox_seq,
       ready, cancel, lease_owner, lease_epoch,
       to_timestamp(lease_until / 1e9) AS lease_until,
       to_timestamp(run_at / 1e9) AS run_at,
       to_timestamp(created / 1e9) AS created,
       to_timestamp(updated / 1e9) AS updated,
       name, trap, runs
FROM tasks;

-- For List: the Kind of a task's wait (filled in by Open for the rows
-- written before), and the indexes of its keyset pages. updated is now
-- set by a claim, not by every step (an indexed column changed by every
-- step would cost an index update at every step, and HOT updates). IDs
-- are ordered byte by byte (COLLATE "C"), as every store orders them,
-- whatever the database's collation.
ALTER TABLE tasks ADD COLUMN wait_kind text NOT NULL DEFAULT '';
CREATE INDEX tasks_id ON tasks (id COLLATE "C");
CREATE INDEX tasks_updated ON tasks (updated, id COLLATE "C");
DROP INDEX tasks_status;
CREATE INDEX tasks_status ON tasks (status, id COLLATE "C");
