-- The ingest log: every accepted event, appended by the gateway before it answers 200, relayed in
-- order to each user's workflow, read by the delivery step, kept as the archive that replay reads.
--
-- Order. Rows are relayed in (xid, seq) order: the writing transaction's id, then the row's sequence
-- number. Only the gateway's log writers insert here, each in a single-statement transaction, on
-- connections named 'ferry-log-writer'. Before each read, a relay takes the lowest xid any of those
-- writers holds (pg_stat_activity), or the next xid to be assigned when none holds one, and then reads
-- only rows below it: a row whose sequence number was taken before another's but that commits after
-- it can never be skipped, because until it commits the relay does not read past its xid. Other
-- transactions on the cluster, however long, do not hold the relay up. Transactions that commit one
-- after the other get increasing xids, so a request acknowledged before another was sent is relayed
-- before it.
CREATE SEQUENCE event_log_seq AS bigint;

CREATE TABLE event_log (
  logged_at    timestamptz NOT NULL DEFAULT now(),
  xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
  seq          bigint      NOT NULL DEFAULT nextval('event_log_seq'),
  source_id    text        NOT NULL,
  user_key     text        NOT NULL,
  bucket       smallint    NOT NULL,
  message_id   text        NOT NULL,
  received_at  timestamptz NOT NULL,
  -- What an operator sees of a pending event in the workflow (never its properties).
  type         text        NOT NULL,
  event_name   text,
  -- The destinations the gateway routed the event to when it accepted it.
  destinations json        NOT NULL,
  event        json        NOT NULL,
  PRIMARY KEY (seq, logged_at)
) PARTITION BY RANGE (logged_at);

ALTER SEQUENCE event_log_seq OWNED BY event_log.seq;

-- The relay's read order.
CREATE INDEX event_log_position_idx ON event_log (xid, seq);

-- One row per bucket: who relays it (a lease with a fencing epoch) and how far it has got.
CREATE TABLE relay_buckets (
  bucket      smallint    PRIMARY KEY,
  owner       text,
  -- Raised on every change of owner: a relay may only advance the cursor under its own epoch.
  epoch       bigint      NOT NULL DEFAULT 0,
  lease_until timestamptz,
  cursor_xid  xid8        NOT NULL DEFAULT '0',
  cursor_seq  bigint      NOT NULL DEFAULT 0,
  relayed_at  timestamptz
);

-- Live relays, so each takes its share of the buckets, with the lag each last measured.
CREATE TABLE relay_members (
  id            text        PRIMARY KEY,
  heartbeat_at  timestamptz NOT NULL,
  buckets       smallint[]  NOT NULL DEFAULT '{}',
  lag_rows      bigint      NOT NULL DEFAULT 0,
  lag_oldest_at timestamptz
);

-- Workflows that still owe deliveries of old rows: retention keeps every partition at or after the
-- oldest row held here.
CREATE TABLE log_holds (
  workflow_id      text        PRIMARY KEY,
  oldest_logged_at timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
