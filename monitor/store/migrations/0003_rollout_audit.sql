-- Every `rollout set`: who changed which flag, when, from what to what, and why.
CREATE TABLE rollout_audit (
    id      bigserial   PRIMARY KEY,
    feature text        NOT NULL,
    actor   text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    before  jsonb       NOT NULL,
    after   jsonb       NOT NULL,
    reason  text        NOT NULL
);

CREATE INDEX rollout_audit_feature_at ON rollout_audit (feature, at DESC, id DESC);
