-- One row per event that was aborted for a destination: never retried again on its own, kept for
-- inspection and replay.
CREATE TABLE dead_letters (
  id              bigserial PRIMARY KEY,
  source_id       text        NOT NULL,
  destination_id  text        NOT NULL,
  workflow_id     text        NOT NULL,
  message_id      text        NOT NULL,
  stage           text        NOT NULL CHECK (stage IN ('transform', 'deliver')),
  reason          text        NOT NULL,
  attempts        integer     NOT NULL,
  last_status     integer,
  last_error      text,
  response_body   text,
  event           jsonb       NOT NULL,
  payload         jsonb,
  first_failed_at timestamptz,
  aborted_at      timestamptz NOT NULL DEFAULT now(),
  replayed_at     timestamptz,
  UNIQUE (destination_id, message_id)
);

CREATE INDEX dead_letters_pending_idx ON dead_letters (destination_id, aborted_at) WHERE replayed_at IS NULL;
