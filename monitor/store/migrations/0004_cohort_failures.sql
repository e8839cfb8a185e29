-- cohort_regression's first failures: per checkpoint, the keys of the passengers whose first 5xx of the phase fell
-- in its window. A key is the first 64 bits of the passenger's hash (`monitor.domain.aggregate.passenger_key`): a
-- truncated hash of a hash, never an id. The phase's failing set is the union of its rows; a new phase starts empty.
-- Apart from `checkpoints`, so reading history never loads it.
CREATE TABLE cohort_failures (
    checkpoint_id bigint   PRIMARY KEY REFERENCES checkpoints (id) ON DELETE CASCADE,
    feature       text     NOT NULL,
    phase         text     NOT NULL,
    keys          bigint[] NOT NULL
);

CREATE INDEX cohort_failures_feature_phase ON cohort_failures (feature, phase);
