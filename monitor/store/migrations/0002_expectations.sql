-- What the operator expects each flag to be, stored by `rollout set` and read by the config_drift check.
CREATE TABLE expectations (
    feature            text        PRIMARY KEY,
    enabled            boolean,
    rollout_percentage integer     CHECK (rollout_percentage BETWEEN 0 AND 100),
    reason             text        NOT NULL DEFAULT '',
    actor              text        NOT NULL DEFAULT '',
    updated_at         timestamptz NOT NULL DEFAULT now()
);
