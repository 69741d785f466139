-- Each lane item's outcome at a destination, recorded before the next item is sent. When a deliver
-- call is cut short (a worker crash) and runs again, the items recorded here are not sent again:
-- only a request that was in flight at the crash can reach a destination twice.
CREATE TABLE delivery_outcomes (
  workflow_id     text        NOT NULL,
  destination_id  text        NOT NULL,
  message_id      text        NOT NULL,
  result          jsonb       NOT NULL,
  settled_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, destination_id, message_id)
);

-- The worker deletes outcomes older than a day: by then the call that recorded them has long finished.
CREATE INDEX delivery_outcomes_settled_idx ON delivery_outcomes (settled_at);
