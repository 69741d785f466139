-- What the supervisor workflow decided, where every worker and gateway can read it cheaply: the
-- pipeline's mode and each destination's state.
--
-- Operators' commands take effect here at once, as overrides (operator_*), without waiting for the
-- supervisor: under load a workflow update can take a minute, and a pause must hold within seconds.
-- Each command takes a number from operator_command_seq; the supervisor clears an override once it
-- has itself applied that command (or a later one), so its own columns then say the same.
CREATE SEQUENCE operator_command_seq AS bigint;

CREATE TABLE pipeline_control (
  id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
  mode       text        NOT NULL DEFAULT 'normal' CHECK (mode IN ('normal', 'degraded')),
  reason     text,
  changed_at timestamptz NOT NULL DEFAULT now(),
  operator_mode   text CHECK (operator_mode IN ('normal', 'degraded')),
  operator_reason text,
  operator_seq    bigint
);
INSERT INTO pipeline_control DEFAULT VALUES;

CREATE TABLE destination_control (
  destination_id text        PRIMARY KEY,
  state          text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'probing')),
  reason         text,
  changed_at     timestamptz NOT NULL DEFAULT now(),
  operator_state  text CHECK (operator_state IN ('active', 'paused')),
  operator_reason text,
  operator_seq    bigint
);

-- Lanes that stopped because their destination (or the whole pipeline) is paused, so that a resume
-- wakes exactly them, oldest first, at a pace Temporal can take.
CREATE TABLE paused_lanes (
  workflow_id    text        NOT NULL,
  destination_id text        NOT NULL,
  paused_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, destination_id)
);
CREATE INDEX paused_lanes_destination_idx ON paused_lanes (destination_id, paused_at);
