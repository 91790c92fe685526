-- The size of each request and of its answer, in bytes, as the gateway saw them: for a model call the request
-- body and the answer's body (a stream's events as sent); for an MCP tool call the JSON-RPC message and its
-- answer. NULL for rows logged before this migration, and where a size was not known (a body that never
-- arrived, an answer never sent).
ALTER TABLE request_logs ADD COLUMN request_bytes BIGINT NULL;
ALTER TABLE request_logs ADD COLUMN response_bytes BIGINT NULL;
