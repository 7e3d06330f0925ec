-- Lists a workspace's webhook deliveries of one state, newest first (Store::deliveries), and
-- a workspace's channels, oldest first (Store::channels).

CREATE INDEX webhook_deliveries_by_workspace
    ON webhook_deliveries (workspace_id, state, created_at DESC, id DESC);

CREATE INDEX channels_by_workspace ON channels (workspace_id, created_at, id);
