-- The phase-log entry's form (issue 14): 'full', or 'brief' — one line for a quiet run of a sub-hourly cadence.
-- Stored with the checkpoint, so `report --rebuild` writes the same form the append did.
ALTER TABLE checkpoints ADD COLUMN entry text NOT NULL DEFAULT 'full' CHECK (entry IN ('full', 'brief'));
