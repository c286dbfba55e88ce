#include "persistence/migrations/migrations.hpp"

namespace returnflow::persistence::migrations {
namespace {

// 0001: the initial schema.
//
// cases          workflow data only: the saved machine state plus the columns the supervisor queries
//                filter on. Lists ('|a|b|') are denormalised for reading; case_partners is the
//                indexed form of the partner list.
// case_events    the append-only history: one row per event received, applied or rejected. Its unique
//                (source, event_id) key with the request hash is the idempotency record.
// people         the only place personal data lives.
// personal_data_access  the audit trail of every read (and write/erasure) of people rows.
// api_tokens     SHA-256 hashes of API tokens with role and scope.
const Migration kInitialSchema{
    1,
    "initial schema",
    {
        R"sql(CREATE TABLE cases (
  case_id             TEXT    NOT NULL PRIMARY KEY,
  programme           TEXT    NOT NULL,
  host_country        TEXT    NOT NULL,
  origin_country      TEXT    NOT NULL,
  office              TEXT    NOT NULL,
  partners            TEXT    NOT NULL,
  stage               TEXT    NOT NULL,
  active_states       TEXT    NOT NULL,
  saved_state         TEXT    NOT NULL,
  vulnerability_flags INTEGER NOT NULL,
  version             BIGINT  NOT NULL,
  last_sequence       BIGINT  NOT NULL,
  created_at          BIGINT  NOT NULL,
  updated_at          BIGINT  NOT NULL,
  stage_entered_at    BIGINT  NOT NULL,
  next_deadline       BIGINT
))sql",
        "CREATE INDEX cases_by_created ON cases (created_at, case_id)",
        "CREATE INDEX cases_by_stage ON cases (stage, created_at, case_id)",
        "CREATE INDEX cases_by_host ON cases (host_country, created_at, case_id)",
        "CREATE INDEX cases_by_origin ON cases (origin_country, created_at, case_id)",
        "CREATE INDEX cases_by_office ON cases (office, created_at, case_id)",
        "CREATE INDEX cases_by_updated ON cases (updated_at)",
        "CREATE INDEX cases_by_deadline ON cases (next_deadline)",
        R"sql(CREATE TABLE case_partners (
  case_id      TEXT NOT NULL REFERENCES cases (case_id),
  organisation TEXT NOT NULL,
  PRIMARY KEY (case_id, organisation)
))sql",
        "CREATE INDEX case_partners_by_organisation ON case_partners (organisation, case_id)",
        R"sql(CREATE TABLE case_events (
  case_id        TEXT   NOT NULL REFERENCES cases (case_id),
  sequence       BIGINT NOT NULL,
  source         TEXT   NOT NULL,
  event_id       TEXT   NOT NULL,
  type           TEXT   NOT NULL,
  actor          TEXT   NOT NULL,
  occurred_at    BIGINT NOT NULL,
  recorded_at    BIGINT NOT NULL,
  payload        TEXT   NOT NULL,
  request_hash   TEXT   NOT NULL,
  verdict        TEXT   NOT NULL,
  reason         TEXT   NOT NULL,
  states_before  TEXT   NOT NULL,
  states_after   TEXT   NOT NULL,
  changes        TEXT   NOT NULL,
  allowed_events TEXT   NOT NULL,
  version_after  BIGINT NOT NULL,
  PRIMARY KEY (case_id, sequence)
))sql",
        "CREATE UNIQUE INDEX case_events_idempotency ON case_events (source, event_id)",
        R"sql(CREATE TABLE people (
  case_id       TEXT   NOT NULL REFERENCES cases (case_id),
  member_id     TEXT   NOT NULL,
  given_names   TEXT   NOT NULL,
  family_name   TEXT   NOT NULL,
  date_of_birth TEXT   NOT NULL,
  documents     TEXT   NOT NULL,
  contacts      TEXT   NOT NULL,
  updated_at    BIGINT NOT NULL,
  PRIMARY KEY (case_id, member_id)
))sql",
        R"sql(CREATE TABLE personal_data_access (
  access_id   TEXT   NOT NULL PRIMARY KEY,
  case_id     TEXT   NOT NULL,
  actor       TEXT   NOT NULL,
  purpose     TEXT   NOT NULL,
  action      TEXT   NOT NULL,
  accessed_at BIGINT NOT NULL
))sql",
        "CREATE INDEX personal_data_access_by_case ON personal_data_access (case_id, accessed_at)",
        R"sql(CREATE TABLE api_tokens (
  token_id     TEXT   NOT NULL PRIMARY KEY,
  name         TEXT   NOT NULL UNIQUE,
  role         TEXT   NOT NULL,
  office       TEXT   NOT NULL,
  organisation TEXT   NOT NULL,
  event_types  TEXT   NOT NULL,
  countries    TEXT   NOT NULL,
  token_hash   TEXT   NOT NULL UNIQUE,
  created_at   BIGINT NOT NULL,
  revoked_at   BIGINT
))sql",
    }};

// 0002: case updates that touch no index. `cases_by_updated` changed with every applied event, and an
// update that changes an indexed column must add an entry to every index of the table (PostgreSQL's HOT
// rule): eight index insertions per event, most of the cost of writing one. "Updated since" is now
// narrowed through the history instead (`case_events_by_recorded`: every value of `cases.updated_at`
// is the recorded_at of one of the case's history rows, the case.opened row or an applied event), an
// append-only index whose insertions land on its right-hand edge. On PostgreSQL `cases` keeps a third
// of each page free so that updated rows fit beside their old version.
const Migration kUpdatesWithoutIndexChanges{
    2,
    "updated-since through the history; case updates without index changes",
    {
        "DROP INDEX cases_by_updated",
        "CREATE INDEX case_events_by_recorded ON case_events (recorded_at)",
    },
    {
        "ALTER TABLE cases SET (fillfactor = 70)",
    }};

// 0003: tokens list the CloudEvents sources their events may carry (a partner can neither block nor
// probe another's event ids, since idempotency is per source). A supervisor's empty country list now
// means no country; the tokens that had one (which meant every country) are given "*", the explicit
// form of every country, so that they keep reading what they read.
const Migration kTokenSources{
    3,
    "token sources; explicit all-countries scope",
    {
        "ALTER TABLE api_tokens ADD COLUMN sources TEXT NOT NULL DEFAULT '|'",
        "UPDATE api_tokens SET countries = '|*|' WHERE role = 'supervisor' AND countries IN ('', '|')",
    }};

// 0004: programmes and time.
//
// programme_versions  every version of every programme definition, immutable once stored (a case is
//                     pinned to the version it runs under).
// timers              the engine's clock per case: exactly the timers workflow::DesiredTimers gives the
//                     case's state, written in the transaction of every event that changes them; claimed
//                     by the scheduler with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL).
// incidents           what needs a person's attention: a passed deadline, a missed visit, an early event
//                     that expired, a timer that kept failing, a case that cannot be read.
// cases.overdue       the deadlines passed while their step is open ('|a|b|', for the overdue filter).
// cases.inbox         the events that arrived before the case could take them, in arrival order (JSON).
const Migration kProgrammesAndTime{
    4,
    "programmes and time: programme versions, timers, incidents, overdue, early events",
    {
        R"sql(CREATE TABLE programme_versions (
  code          TEXT    NOT NULL,
  version       INTEGER NOT NULL,
  definition    TEXT    NOT NULL,
  registered_at BIGINT  NOT NULL,
  PRIMARY KEY (code, version)
))sql",
        R"sql(CREATE TABLE timers (
  case_id           TEXT    NOT NULL REFERENCES cases (case_id),
  kind              TEXT    NOT NULL,
  due_at            BIGINT  NOT NULL,
  scheduled_version BIGINT  NOT NULL,
  attempts          INTEGER NOT NULL DEFAULT 0,
  claimed_until     BIGINT,
  PRIMARY KEY (case_id, kind)
))sql",
        "CREATE INDEX timers_by_due ON timers (due_at)",
        R"sql(CREATE TABLE incidents (
  incident_id    TEXT   NOT NULL PRIMARY KEY,
  case_id        TEXT   NOT NULL REFERENCES cases (case_id),
  kind           TEXT   NOT NULL,
  subject        TEXT   NOT NULL,
  opened_at      BIGINT NOT NULL,
  office         TEXT   NOT NULL,
  host_country   TEXT   NOT NULL,
  origin_country TEXT   NOT NULL,
  resolved_at    BIGINT,
  resolved_by    TEXT
))sql",
        // One open incident per (case, kind, subject): a condition is reported once until resolved.
        "CREATE UNIQUE INDEX incidents_open ON incidents (case_id, kind, subject) WHERE resolved_at IS NULL",
        "CREATE INDEX incidents_by_opened ON incidents (opened_at, incident_id)",
        "CREATE INDEX incidents_by_case ON incidents (case_id, opened_at)",
        "ALTER TABLE cases ADD COLUMN overdue TEXT NOT NULL DEFAULT '|'",
        "ALTER TABLE cases ADD COLUMN inbox TEXT NOT NULL DEFAULT '[]'",
    }};

// 0005: the clock's writes without index changes. A firing that passed a deadline changed the case's
// next_deadline, whose index (cases_by_deadline, read by no query: the overdue filter ORs it with the
// unindexed overdue list) made every such update a non-HOT one, inserting into all seven indexes of
// `cases` (measured: 30,000 of 53,000 case updates during a drain). A timer's claim sets its lease on a
// page with no room for the new version (timers are inserted densely), so it too inserted into both of
// the table's indexes. A drain claims every timer of a page in one transaction, before any old version
// is dead: half of each page kept free lets all of them stay on it (70% left 56% of claims non-HOT).
const Migration kClockWritesWithoutIndexChanges{
    5,
    "clock writes without index changes",
    {
        "DROP INDEX cases_by_deadline",
    },
    {
        "ALTER TABLE timers SET (fillfactor = 50)",
    }};


// 0006: consent records (the partner issue; the personal-data issue reuses them).
//
// case_consents  the migrant's consent to transfer categories of personal data to one organisation for
//                one purpose: who (the household member id, pseudonymous), to whom, why, which
//                categories ('|identity|travel_document|'), given and withdrawn (never deleted), by whom
//                (token names). No free text: nothing in this table is personal data beyond the member
//                id. Each record and each withdrawal is also a row of the case's history.
const Migration kConsentRecords{
    6,
    "consent records",
    {
        R"sql(CREATE TABLE case_consents (
  consent_id   TEXT   NOT NULL PRIMARY KEY,
  case_id      TEXT   NOT NULL REFERENCES cases (case_id),
  member_id    TEXT   NOT NULL,
  recipient    TEXT   NOT NULL,
  purpose      TEXT   NOT NULL,
  categories   TEXT   NOT NULL,
  given_at     BIGINT NOT NULL,
  recorded_at  BIGINT NOT NULL,
  recorded_by  TEXT   NOT NULL,
  withdrawn_at BIGINT,
  withdrawn_by TEXT
))sql",
        "CREATE INDEX case_consents_by_case ON case_consents (case_id, recorded_at, consent_id)",
    }};

// 0007: a transfer of personal data to a partner is audited with its recipient and the categories that
// went (personal_data_access.action 'transfer', purpose the transfer purpose). Earlier rows have neither.
const Migration kTransferAudit{
    7,
    "transfers audited with recipient and categories",
    {
        "ALTER TABLE personal_data_access ADD COLUMN recipient TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE personal_data_access ADD COLUMN categories TEXT NOT NULL DEFAULT '|'",
    }};

// 0008: the tamper-evident history (persistence/history_chain.hpp).
//
// case_events.hash, prev_hash  SHA-256 over the row's canonical content and the previous row's hash
//                              (the case's first row: 64 zeros); existing rows are chained by the
//                              backfill, in sequence order per case.
// cases.head_hash              the hash of the case's newest row, moved with every checked update.
// checkpoints                  signed statements over every case's head (Ed25519): id, when, how many
//                              cases, the digest, the previous checkpoint's digest, the signature, the
//                              key id and the public key.
// checkpoint_heads             what the checkpoints cover, stored once: a case's (sequence, head) from the
//                              first checkpoint that saw the case at that sequence. A checkpoint covers,
//                              per case, the entry of greatest sequence among those of checkpoints up to
//                              its own. No foreign key: a case deleted behind the engine's back stays
//                              covered, and `verify` reports it missing.
const Migration kTamperEvidentHistory{
    8,
    "tamper-evident history: row hashes, case heads, signed checkpoints",
    {
        "ALTER TABLE case_events ADD COLUMN hash TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE case_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cases ADD COLUMN head_hash TEXT NOT NULL DEFAULT ''",
        R"sql(CREATE TABLE checkpoints (
  checkpoint_id   BIGINT NOT NULL PRIMARY KEY,
  created_at      BIGINT NOT NULL,
  case_count      BIGINT NOT NULL,
  digest          TEXT   NOT NULL,
  previous_digest TEXT   NOT NULL,
  signature       TEXT   NOT NULL,
  key_id          TEXT   NOT NULL,
  public_key      TEXT   NOT NULL
))sql",
        R"sql(CREATE TABLE checkpoint_heads (
  case_id       TEXT   NOT NULL,
  sequence      BIGINT NOT NULL,
  head          TEXT   NOT NULL,
  checkpoint_id BIGINT NOT NULL,
  PRIMARY KEY (case_id, sequence)
))sql",
    },
    {},
    [](soci::session& sql, const MasterKeyring*) { ChainExistingHistory(sql); }};


// 0009: partners hear from the engine.
//
// subscriptions   who hears what: a partner organisation or a caseworker office, the notifications it
//                 takes, delivered by webhook (URL, whsec_ signing secret, the previous secret while a
//                 rotation overlaps) or kept for its pull feed; disabled by a 410 or an admin.
// outbox          one row per (subscription, notification), written in the transaction of the change
//                 that causes it; facts only (states, stage, event type, reason code, deadline), never
//                 personal data. Ordered per case by (case_sequence, ordinal); claimed for delivery with
//                 a lease (FOR UPDATE SKIP LOCKED on PostgreSQL); a feed's rows get their feed position
//                 when first read, in commit order.
// delivery_attempts  every webhook attempt: when, the HTTP status or the failure, how long it took.
// outbox_replays  who replayed which range of a subscription's notifications, and when (audit).
const Migration kOutbox{
    9,
    "outbox: subscriptions, notifications, delivery attempts, replays",
    {
        R"sql(CREATE TABLE subscriptions (
  subscription_id       TEXT    NOT NULL PRIMARY KEY,
  organisation          TEXT    NOT NULL,
  office                TEXT    NOT NULL,
  notifications         TEXT    NOT NULL,
  delivery              TEXT    NOT NULL,
  url                   TEXT    NOT NULL,
  secret                TEXT    NOT NULL,
  previous_secret       TEXT    NOT NULL,
  previous_secret_until BIGINT,
  disabled_at           BIGINT,
  disabled_reason       TEXT    NOT NULL,
  created_at            BIGINT  NOT NULL,
  updated_at            BIGINT  NOT NULL,
  version               BIGINT  NOT NULL
))sql",
        R"sql(CREATE TABLE outbox (
  notification_id TEXT    NOT NULL PRIMARY KEY,
  subscription_id TEXT    NOT NULL,
  case_id         TEXT    NOT NULL,
  case_sequence   BIGINT  NOT NULL,
  ordinal         INTEGER NOT NULL,
  kind            TEXT    NOT NULL,
  subject         TEXT    NOT NULL,
  facts           TEXT    NOT NULL,
  created_at      BIGINT  NOT NULL,
  status          TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT  NOT NULL,
  claimed_until   BIGINT,
  delivered_at    BIGINT,
  last_status     INTEGER,
  last_error      TEXT    NOT NULL DEFAULT '',
  feed_position   BIGINT
))sql",
        "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
        "CREATE INDEX outbox_by_case ON outbox (subscription_id, case_id, case_sequence, ordinal)",
        "CREATE INDEX outbox_feed ON outbox (subscription_id, feed_position)",
        R"sql(CREATE TABLE delivery_attempts (
  attempt_id      TEXT    NOT NULL PRIMARY KEY,
  notification_id TEXT    NOT NULL,
  attempt         INTEGER NOT NULL,
  subscription_id TEXT    NOT NULL,
  attempted_at    BIGINT  NOT NULL,
  status          INTEGER NOT NULL,
  error           TEXT    NOT NULL,
  duration_us     BIGINT  NOT NULL
))sql",
        "CREATE INDEX delivery_attempts_by_notification ON delivery_attempts (notification_id)",
        "CREATE INDEX delivery_attempts_by_subscription ON delivery_attempts (subscription_id, attempted_at)",
        R"sql(CREATE TABLE outbox_replays (
  replay_id       TEXT   NOT NULL PRIMARY KEY,
  subscription_id TEXT   NOT NULL,
  actor           TEXT   NOT NULL,
  replayed_at     BIGINT NOT NULL,
  from_time       BIGINT NOT NULL,
  to_time         BIGINT NOT NULL,
  notifications   BIGINT NOT NULL
))sql",
    }};

// 0010: the claim's head-of-line check (is an earlier notification of the same subscription and case
// still pending?) is one probe of an index of the pending rows alone, not a walk through every row the
// case ever had; the retention's purge finds delivered rows by when they were delivered.
const Migration kOutboxClaimIndexes{
    10,
    "outbox: pending rows by case; delivered rows by time",
    {
        "CREATE INDEX outbox_pending_by_case ON outbox (subscription_id, case_id, case_sequence, ordinal) "
        "WHERE status = 'pending'",
        "CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered'",
    }};

// 0011: encryption at rest of personal data (persistence/personal_data_crypto.hpp).
//
// data_keys      one random AES-256 data key per household member (the data subject), wrapped under a
//                master key named by key_id; the master keys live in a key file or the environment, never
//                here. Erasure deletes the member's row: the ciphertext left anywhere is unreadable.
// people.sealed  the member's personal data (names, date of birth, documents, contacts) as AES-256-GCM
//                ciphertext under the data key, bound to (case id, member id, column). The backfill
//                seals existing rows with the configured master key and drops the plaintext columns.
const Migration kEncryptionAtRest{
    11,
    "encryption at rest: per-member data keys wrapped by a master key, sealed people rows",
    {
        R"sql(CREATE TABLE data_keys (
  case_id     TEXT   NOT NULL REFERENCES cases (case_id),
  member_id   TEXT   NOT NULL,
  key_id      TEXT   NOT NULL,
  wrapped_key TEXT   NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (case_id, member_id)
))sql",
        "CREATE INDEX data_keys_by_key ON data_keys (key_id)",
        "ALTER TABLE people ADD COLUMN sealed TEXT NOT NULL DEFAULT ''",
    },
    {},
    &SealExistingPeople};

// 0012: the audit (GET /audit) names more than reads of a case: a correction's member and field (the
// NAME, never the value), and token changes (action 'token_create' / 'token_revoke', case_id '', the
// token's name). An index orders the whole audit for its keyset pages.
const Migration kAuditDetails{
    12,
    "audit: corrected member and field, token changes, ordered across cases",
    {
        "ALTER TABLE personal_data_access ADD COLUMN member_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE personal_data_access ADD COLUMN field TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE personal_data_access ADD COLUMN token_name TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX personal_data_access_by_time ON personal_data_access (accessed_at, access_id)",
    }};

const std::vector<Migration> kAll{kInitialSchema, kUpdatesWithoutIndexChanges, kTokenSources, kProgrammesAndTime,
                                  kClockWritesWithoutIndexChanges, kConsentRecords, kTransferAudit,
                                  kTamperEvidentHistory, kOutbox, kOutboxClaimIndexes, kEncryptionAtRest, kAuditDetails};

}  // namespace

std::span<const Migration> All() { return kAll; }

}  // namespace returnflow::persistence::migrations
