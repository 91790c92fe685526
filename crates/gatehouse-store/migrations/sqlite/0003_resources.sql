-- Provider accounts, MCP servers, agents and gateway controls. The spec is JSON without credentials and
-- without collaborators (those are rows of `grants`); the credentials are sealed by the server's key.
CREATE TABLE resources (
    resource_kind TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- `provider-account/openai`, `mcp-server/remote`, `agent`, `gateway-rate-limiting-config`, ...
    manifest_type TEXT NOT NULL,
    spec          TEXT NOT NULL,
    sealed_auth   BLOB NULL,
    PRIMARY KEY (resource_kind, name)
);
