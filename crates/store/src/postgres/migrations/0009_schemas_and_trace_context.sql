-- Migration 9 (PostgreSQL): payload schemas of event types, and the trace context of events.
--
-- payload_schema: a JSON Schema (draft 2020-12) as JSON text, checked before it is
-- stored; NULL on a built-in type means its built-in schema, on another type none.
-- traceparent / tracestate: the W3C trace context an event carries to every attempt
-- (`traceparent` normalized to version 00); NULL for events published before this
-- migration, which are sent without one.
ALTER TABLE event_types ADD COLUMN payload_schema TEXT;
ALTER TABLE events ADD COLUMN traceparent TEXT;
ALTER TABLE events ADD COLUMN tracestate TEXT;
