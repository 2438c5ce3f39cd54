-- amber store schema: world waits (numbered 0006 to follow the versions
-- and router migrations, 0004 and 0005).
--
-- The tasks waiting in an STM Retry on each world var
-- (store.Step.WaitWorld), with their version (step count) when they began
-- to wait. A commit that writes the var, holding its advisory lock, wakes
-- those that took no step since and deletes the var's waits; a step that
-- waits takes the var's lock shared, so that no write falls between its
-- check of the var's version and its wait.
CREATE TABLE world_waits (
    name    text NOT NULL,
    task_id text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (name, task_id)
);
