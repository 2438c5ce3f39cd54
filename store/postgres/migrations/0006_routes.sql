-- amber store schema: the routing table of package router
-- (store.RouteStore). A route per function, the history of every change
-- (seq counts changes: RoutesClock), and the divergences of shadowed
-- calls. It depends on nothing but 0001; numbered 0004 on the branch that
-- added it, renumber freely.

CREATE TABLE routes (
    function text PRIMARY KEY,
    policy   bytea NOT NULL,
    seq      bigint NOT NULL,
    at       timestamptz NOT NULL
);
CREATE TABLE route_history (
    seq      bigint PRIMARY KEY,
    function text NOT NULL,
    policy   bytea,
    old      bytea,
    prev     bigint NOT NULL DEFAULT 0,
    who      text NOT NULL DEFAULT '',
    why      text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL
);
CREATE INDEX route_history_function_idx ON route_history (function, seq);
CREATE TABLE divergences (
    seq      bigserial PRIMARY KEY,
    function text NOT NULL,
    task     text NOT NULL,
    at       timestamptz NOT NULL,
    noise    boolean NOT NULL,
    data     bytea NOT NULL
);
CREATE INDEX divergences_function_idx ON divergences (function, seq);
