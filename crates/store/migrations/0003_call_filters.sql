-- Columns the call list filters need (spec §5.2 channel calls, §5.3 workspace calls log), copied
-- out of `calls.body` and kept in sync by Store::insert_call and Store::update_call.
--
-- `tags` is the call's JSON array of lower-case tags, as TEXT; the `tag` filter reads it with
-- SQLite's json_each (PostgreSQL: a jsonb column and `?|`). The backfill below uses SQLite's
-- json_extract and json_valid (PostgreSQL: `body::jsonb ->> 'to'`); a body that is not valid JSON
-- (a damaged row) keeps the defaults rather than failing the migration.

ALTER TABLE calls ADD COLUMN to_address TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN from_address TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN call_type TEXT NOT NULL DEFAULT 'sip';
-- Whole seconds; NULL until the call ends.
ALTER TABLE calls ADD COLUMN duration INTEGER;
ALTER TABLE calls ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

UPDATE calls SET
    to_address = COALESCE(json_extract(body, '$.to'), ''),
    from_address = COALESCE(json_extract(body, '$.from'), ''),
    call_type = COALESCE(json_extract(body, '$.type'), 'sip'),
    duration = json_extract(body, '$.duration'),
    tags = COALESCE(json_extract(body, '$.tags'), '[]')
WHERE json_valid(body);

-- The workspace calls log, newest first (the channel list has calls_by_channel).
CREATE INDEX calls_by_workspace ON calls (workspace_id, created_at DESC, id DESC);
-- The selective exact-match filters. `status`, `type`, `direction`, `duration` and `tag` have few
-- distinct values (or are rarely alone): they are checked while walking one of the ordered
-- indexes above, which stops as soon as a page is full.
CREATE INDEX calls_by_to ON calls (workspace_id, to_address, created_at DESC, id DESC);
CREATE INDEX calls_by_from ON calls (workspace_id, from_address, created_at DESC, id DESC);
