-- What the guardrails did to each call: a JSON list of {config, rule, check, type, hook, outcome, count}, one
-- entry per check that acted (blocked, redacted, flagged by an audit, or failed). Never the text a check
-- found. NULL when no guardrail acted, and for rows logged before this migration.
ALTER TABLE request_logs ADD COLUMN guardrails TEXT NULL;
