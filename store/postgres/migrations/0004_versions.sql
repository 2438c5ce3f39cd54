-- amber store schema, version 4: versions, so that builds run side by side.
--
-- The stored current version of each program (new tasks start on it), the
-- retired versions, the change log (set-current, retire, migrate; a kind
-- and a small JSON payload, for later kinds too), the workers' heartbeats
-- (the versions each can run), and each task's migrations (a JSON array of
-- task.Migration; NULL for none).

ALTER TABLE tasks ADD COLUMN migrations jsonb;

CREATE TABLE program_current (
    program text PRIMARY KEY,
    version integer NOT NULL
);

CREATE TABLE program_retired (
    program text NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (program, version)
);

CREATE TABLE changes (
    seq     bigserial PRIMARY KEY,
    at      bigint NOT NULL,  -- Unix nanoseconds
    kind    text NOT NULL,
    program text NOT NULL,
    version integer NOT NULL,
    data    jsonb
);

CREATE TABLE workers (
    id       text PRIMARY KEY,
    versions jsonb NOT NULL,  -- [{"program":...,"version":...}]
    at       bigint NOT NULL, -- the worker's clock, Unix nanoseconds
    stopped  boolean NOT NULL DEFAULT false
);
