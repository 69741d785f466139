-- Destination ids are unique only within a source, so the dead letters of two sources that share a
-- destination id and a messageId overwrote each other. The key now includes the source. Existing
-- rows all fit it: they were unique on (destination_id, message_id) already.
ALTER TABLE dead_letters
  ADD CONSTRAINT dead_letters_source_destination_message_key UNIQUE (source_id, destination_id, message_id),
  DROP CONSTRAINT dead_letters_destination_id_message_id_key;

-- Re-drive picks a source's destination's pending dead letters, oldest first.
DROP INDEX dead_letters_pending_idx;
CREATE INDEX dead_letters_pending_idx ON dead_letters (source_id, destination_id, aborted_at) WHERE replayed_at IS NULL;
