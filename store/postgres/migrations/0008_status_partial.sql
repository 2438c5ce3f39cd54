-- amber store schema, version 8: the index of the listing by status
-- leaves out the tasks that are done.
--
-- A step's UPDATE is never HOT (it changes status and lease), so the end
-- of every task wrote a new entry in tasks_status, for the status that
-- most tasks end in and keep for ever. Done tasks are listed (List with
-- Status done) through the primary key or tasks_updated instead, skipping
-- the tasks that are not done: cheap where done tasks are most of the
-- table, as they are in a store that has run for a while; a scan where
-- they are few. The statuses people look for among many others (failed,
-- cancelled, waiting, running) keep their index. One index entry less per
-- task that ends done: on 2,000 one-step tasks (pg_walinspect), btree leaf
-- inserts 7.97 -> 6.97 a task, WAL 1,297 -> 1,197 bytes a task.
DROP INDEX tasks_status;
CREATE INDEX tasks_status ON tasks (status, id) WHERE status <> 'done';
