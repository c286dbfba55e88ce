-- pgbench: the SQL transaction the engine runs for one event, without the engine. Lock the case, check
-- idempotency, append the history row, write back the saved state with version + 1 (checked), commit.
-- Runs on the engine's own schema and cases (bench_case_ids numbers them); run.sh passes -D ncases=N.
\set n random(1, :ncases)
BEGIN;
SELECT c.case_id AS cid, c.version AS v, c.last_sequence AS seq, c.saved_state AS st
  FROM cases c JOIN bench_case_ids b ON b.case_id = c.case_id WHERE b.n = :n FOR UPDATE OF c \gset
SELECT count(*) AS seen FROM case_events WHERE source = 'pgbench' AND event_id = :cid || '-' || (:seq + 1) \gset
INSERT INTO case_events (case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, payload,
                         request_hash, verdict, reason, states_before, states_after, changes, allowed_events,
                         version_after)
  VALUES (:cid, :seq + 1, 'pgbench', :cid || '-' || (:seq + 1), 'counselling.session_held', 'pgbench', 0, 0, '{}',
          md5(:cid), 'applied', '', '["counselling.in_progress"]', '["counselling.in_progress"]',
          '["counselling_sessions=2"]', '["counselling.session_held","consent.recorded"]', :v + 1);
UPDATE cases SET saved_state = :st, version = version + 1, last_sequence = last_sequence + 1, updated_at = :v
  WHERE case_id = :cid AND version = :v;
END;
