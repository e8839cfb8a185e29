-- One row per checkpoint. run_key makes a re-delivered run (EventBridge is at-least-once) a no-op.
CREATE TABLE checkpoints (
    id               bigserial PRIMARY KEY,
    run_key          text        NOT NULL UNIQUE,
    feature          text        NOT NULL,
    phase            text        NOT NULL,
    label            text        NOT NULL,
    status           text        NOT NULL,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    live_config      jsonb       NOT NULL,
    expected         jsonb       NOT NULL,
    checks           jsonb       NOT NULL,
    metrics          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    gate             jsonb,
    allowlist_hashes text[]      NOT NULL DEFAULT '{}',
    appended         boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX checkpoints_feature_phase_created ON checkpoints (feature, phase, created_at DESC, id DESC);
CREATE INDEX checkpoints_feature_created ON checkpoints (feature, created_at DESC, id DESC);
CREATE INDEX checkpoints_unappended ON checkpoints (feature, phase, created_at, id) WHERE NOT appended;
