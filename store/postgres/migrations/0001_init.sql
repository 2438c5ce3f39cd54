-- amber store schema, version 1. Applied by Open inside a transaction that
-- holds an advisory lock, with search_path set to the store's schema.

CREATE SEQUENCE tasks_ready_seq;

CREATE TABLE tasks (
    id              text PRIMARY KEY,
    program         text NOT NULL,
    program_version integer NOT NULL,
    input           bytea,                -- CBOR of the program's input, as given
    status          text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    wait            bytea,                -- task.Marshal(*task.Wait)
    result          bytea,                -- CBOR of the program's output
    err             bytea,                -- task.Marshal(*task.Error)
    parent          text NOT NULL DEFAULT '',
    -- Times are Unix nanoseconds (UTC): the interpreter's clock, which may
    -- be virtual, kept exactly (timestamptz keeps microseconds). The view
    -- tasks_view shows them as timestamps.
    created         bigint NOT NULL,
    updated         bigint NOT NULL,

    -- Readiness. A task is claimable when it is not leased and due <= the
    -- claimer's clock: woken tasks sort first (the smallest bigint), in the order
    -- they were woken (ready_seq), then timers by run_at. Final tasks have
    -- neither ready nor run_at, so they are never claimable.
    run_at          bigint,
    ready           boolean NOT NULL DEFAULT false,
    ready_seq       bigint NOT NULL DEFAULT nextval('tasks_ready_seq'),
    due             bigint GENERATED ALWAYS AS
                        (CASE WHEN ready THEN -9223372036854775808 ELSE run_at END) STORED,

    -- The lease: who may commit the next step, fenced by its epoch.
    lease_owner     text,
    lease_epoch     bigint NOT NULL DEFAULT 0,
    lease_until     bigint,
    cancel          boolean NOT NULL DEFAULT false,

    version         bigint NOT NULL DEFAULT 0,  -- committed steps
    journal_len     bigint NOT NULL DEFAULT 0,  -- entries in journal
    mailbox_seq     bigint NOT NULL DEFAULT 0   -- last mailbox sequence number
);

-- Claim: unleased tasks in claim order, and leases to take over.
CREATE INDEX tasks_claimable ON tasks (due, ready_seq)
    WHERE lease_owner IS NULL AND due IS NOT NULL;
CREATE INDEX tasks_leased ON tasks (lease_until)
    WHERE lease_owner IS NOT NULL;
-- List by status.
CREATE INDEX tasks_status ON tasks (status, id);

-- No foreign keys to tasks: rows are only added together with their task
-- (in one transaction), tasks are never deleted, and a key check per
-- journal row would cost every commit.
CREATE TABLE journal (
    task_id text NOT NULL,
    seq     bigint NOT NULL,
    entry   bytea NOT NULL,               -- task.EncodeEntry
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE mailbox (
    task_id  text NOT NULL,
    seq      bigint NOT NULL,
    envelope bytea NOT NULL,              -- task.Marshal(task.Envelope)
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE world (
    name    text PRIMARY KEY,
    value   bytea NOT NULL,
    version bigint NOT NULL DEFAULT 1     -- writes committed to the var
);

-- For people at a psql prompt: the tasks with readable times.
CREATE VIEW tasks_view AS
SELECT id, program, program_version, status, reason, parent, version, journal_len, mailbox_seq,
       ready, cancel, lease_owner, lease_epoch,
       to_timestamp(lease_until / 1e9) AS lease_until,
       to_timestamp(run_at / 1e9) AS run_at,
       to_timestamp(created / 1e9) AS created,
       to_timestamp(updated / 1e9) AS updated
FROM tasks;
