-- amber store schema, version 3: durable promises under faults and at scale.
--
-- A checksum beside each journal entry and message: task.Checksum (CRC-32C)
-- of the stored bytes, checked when they are read back. Rows written before
-- this version have none (NULL) and are not checked.

ALTER TABLE journal ADD COLUMN sum bigint;
ALTER TABLE mailbox ADD COLUMN sum bigint;
