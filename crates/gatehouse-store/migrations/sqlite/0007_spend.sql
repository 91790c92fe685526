-- Rate limits and budgets.

-- What each request cost, in US dollars at the price in force when it ran (written by the gateway), so a
-- later price change does not rewrite the cost of requests already made. NULL for rows logged before this
-- migration and for models without pricing. `refused_by` names the gateway control that refused the
-- request (`<config>/<rule>`); NULL when none did.
ALTER TABLE request_logs ADD COLUMN cost_usd REAL NULL;
ALTER TABLE request_logs ADD COLUMN refused_by TEXT NULL;

-- Budget spend per budget counter and calendar period, so that a restart or an emptied Redis never resets a
-- period's budget. `amount` is an opaque integer to the store (nano-dollars or tokens, by the counter);
-- replicas add to it with an upsert, so rows only grow.
CREATE TABLE spend_counters (
    counter      TEXT NOT NULL,
    -- Unix seconds: the first instant of the period.
    period_start INTEGER NOT NULL,
    -- SQLite turns an integer sum that overflows 64 bits into a float; the check makes it an error instead,
    -- as it is on Postgres, and the total is never silently rounded.
    amount       INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
    PRIMARY KEY (counter, period_start)
);
-- Start-up reads every row of the current periods.
CREATE INDEX spend_counters_period ON spend_counters (period_start);

-- Budget alerts already sent: one row per counter, period and threshold (a percentage), inserted by the
-- first replica to cross it, so an alert fires once however many replicas see the crossing.
CREATE TABLE limit_alerts (
    counter      TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    threshold    INTEGER NOT NULL,
    -- Unix nanoseconds, as every time in this schema.
    fired_at     INTEGER NOT NULL,
    PRIMARY KEY (counter, period_start, threshold)
);
