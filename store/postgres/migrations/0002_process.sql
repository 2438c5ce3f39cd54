-- amber store schema, version 2: process state (store.ProcOp, Step.Exit).
--
-- A task's exit flag (trap) and registered name live in its row; a name is
-- unique among the tasks that hold one, and cleared when its task finishes.
-- proc records that the task ever had a link, a monitor or a name, so that
-- the end of a task that never had any costs nothing more. Exit signals are
-- mailbox rows; the tag of one that can be voided (task.Signal.Tag) is kept
-- beside it. Adding columns with constant defaults rewrites no table.

ALTER TABLE tasks
    ADD COLUMN trap boolean NOT NULL DEFAULT false,
    ADD COLUMN name text NOT NULL DEFAULT '',
    ADD COLUMN proc boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX tasks_name ON tasks (name) WHERE name <> '';

ALTER TABLE mailbox ADD COLUMN tag text;

-- Links and monitors. A link (kind 1) is stored once per pair of tasks,
-- with owner < target; a monitor (kind 2) is owner watching target under
-- ref. The order of id is the order they were made, which orders the
-- signals of an end.
CREATE TABLE links (
    id     bigserial PRIMARY KEY,
    kind   smallint NOT NULL,
    owner  text NOT NULL,
    target text NOT NULL,
    ref    text NOT NULL DEFAULT ''
);
CREATE INDEX links_owner ON links (owner);
CREATE INDEX links_target ON links (target);

CREATE OR REPLACE VIEW tasks_view AS
SELECT id, program, program_version, status, reason, parent, version, journal_len, mailbox_seq,
       ready, cancel, lease_owner, lease_epoch,
       to_timestamp(lease_until / 1e9) AS lease_until,
       to_timestamp(run_at / 1e9) AS run_at,
       to_timestamp(created / 1e9) AS created,
       to_timestamp(updated / 1e9) AS updated,
       name, trap
FROM tasks;
