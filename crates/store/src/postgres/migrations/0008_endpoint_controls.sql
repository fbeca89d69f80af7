-- Migration 8: endpoint controls (issue 16): a rate limit and custom headers per endpoint.
--
-- `rate_limit` attempts per `rate_limit_period` ('second' or 'minute'), both NULL for no
-- limit. `headers` is the custom header set as JSON, sealed like the signing secrets
-- (`sealed:v1:…`, bound to the webhook id); NULL for none.
ALTER TABLE webhooks
    ADD COLUMN rate_limit INTEGER CHECK (rate_limit BETWEEN 1 AND 10000),
    ADD COLUMN rate_limit_period TEXT CHECK (rate_limit_period IN ('second', 'minute')),
    ADD CONSTRAINT webhooks_rate_limit_whole
        CHECK ((rate_limit IS NULL) = (rate_limit_period IS NULL)),
    ADD COLUMN headers TEXT;
