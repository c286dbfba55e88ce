#include "api/openapi.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/cloudevents.hpp"
#include "api/problem.hpp"
#include "api/query.hpp"
#include "config/settings.hpp"
#include "workflow/consent.hpp"
#include "workflow/events.hpp"
#include "workflow/incidents.hpp"
#include "workflow/timers.hpp"
#include "workflow/reasons.hpp"
#include "workflow/vocabulary.hpp"

namespace returnflow::api {

namespace json = boost::json;

namespace {

json::object Ref(std::string_view name) { return {{"$ref", "#/components/schemas/" + std::string(name)}}; }

json::object Content(json::object schema, std::string_view media_type = "application/json") {
  return {{std::string(media_type), json::object{{"schema", std::move(schema)}}}};
}

json::object Reply(std::string_view description, std::optional<json::object> schema = std::nullopt,
                   std::string_view media_type = "application/json") {
  json::object response{{"description", description}};
  if (schema) response["content"] = Content(std::move(*schema), media_type);
  return response;
}

/// A problem response naming the problem types it can carry, read from the catalogue (so a type renamed
/// there is renamed here): the description lists them, and the schema narrows `type` to them.
json::object ProblemReply(std::string_view description, std::initializer_list<ProblemKind> kinds) {
  std::string text(description);
  json::array types;
  for (const auto kind : kinds) {
    const auto& info = Info(kind);
    text += fmt::format("{}`{}`", types.empty() ? ". Problem types: " : ", ", info.slug);
    types.emplace_back(TypeUri(kind));
  }
  text += ".";
  json::object narrowed{{"type", "object"}, {"properties", {{"type", {{"type", "string"}, {"enum", std::move(types)}}}}}};
  return Reply(text, json::object{{"allOf", json::array{Ref("Problem"), std::move(narrowed)}}}, kProblemContentType);
}

json::object PathParam(std::string_view name, std::string_view description) {
  return {{"name", name}, {"in", "path"}, {"required", true}, {"description", description},
          {"schema", {{"type", "string"}}}};
}

json::object QueryParam(std::string_view name, json::object schema, std::string_view description) {
  return {{"name", name}, {"in", "query"}, {"required", false}, {"description", description}, {"schema", std::move(schema)}};
}

json::object HeaderParam(std::string_view name, json::object schema, std::string_view description) {
  return {{"name", name}, {"in", "header"}, {"required", false}, {"description", description}, {"schema", std::move(schema)}};
}

json::object String() { return {{"type", "string"}}; }
json::object String(std::string_view description) { return {{"type", "string"}, {"description", description}}; }
json::object Integer() { return {{"type", "integer"}}; }
json::object Boolean() { return {{"type", "boolean"}}; }
json::object StringArray() { return {{"type", "array"}, {"items", String()}}; }
json::object DateTime() { return {{"type", "string"}, {"format", "date-time"}}; }

template <std::size_t N>
json::object Names(const std::array<std::string_view, N>& names) {
  json::array values;
  for (const auto name : names) values.emplace_back(name);
  return {{"type", "string"}, {"enum", std::move(values)}};
}

/// One operation. Authenticated operations get the 401 every one of them can answer; the caller lists
/// the rest, 403 included where a role or scope check can refuse.
json::object Operation(std::string_view id, std::string_view tag, std::string_view summary, std::string_view description,
                       json::object responses, bool authenticated = true) {
  json::object operation{{"operationId", id}, {"tags", json::array{tag}}, {"summary", summary},
                         {"description", description}};
  if (authenticated) {
    responses["401"] = ProblemReply("Missing, unknown or revoked bearer token", {ProblemKind::kUnauthenticated});
  } else {
    operation["security"] = json::array();
  }
  operation["responses"] = std::move(responses);
  return operation;
}

// The answers most operations share, each with the problem types it can carry.
json::object BadTarget() {
  return ProblemReply("The request target is not valid, or has a query parameter the operation does not define",
                      {ProblemKind::kInvalidRequest});
}
json::object NotVisible() {
  return ProblemReply("No such case visible to the caller (a case of another office or partner answers exactly so)",
                      {ProblemKind::kNotFound});
}
json::object CaseServerError() {
  return ProblemReply("The stored case cannot be read by this version of the engine (an operator must look), or "
                      "another internal error",
                      {ProblemKind::kCaseUnreadable, ProblemKind::kInternal});
}
json::object Unavailable() {
  return ProblemReply("The database is not reachable, the server is at its connection limit or shutting down; retry later",
                      {ProblemKind::kUnavailable, ProblemKind::kTooManyConnections, ProblemKind::kShuttingDown});
}
json::object BodyTooLarge() {
  return ProblemReply("The body is larger than the server accepts (server.body_limit)", {ProblemKind::kPayloadTooLarge});
}

/// The registered reason codes, generated from the registry (workflow/reasons.hpp) with their meanings.
json::object ReasonCodeSchema() {
  json::array codes;
  std::string meanings = "A stable reason code of the workflow: why a guard refused an event, or the verdict that "
                         "was not a guard's (not allowed in the state, closed, the suspension reason).";
  for (const auto& reason : workflow::AllReasonCodes()) {
    codes.emplace_back(reason.code);
    meanings += fmt::format("\n- `{}`: {}", reason.code, reason.meaning);
  }
  meanings += "\n\nThe engine's own codes (its clock and programmes):";
  for (const auto& reason : workflow::EngineReasonCodes()) {
    codes.emplace_back(reason.code);
    meanings += fmt::format("\n- `{}`: {}", reason.code, reason.meaning);
  }
  return {{"type", "string"}, {"enum", std::move(codes)}, {"description", std::move(meanings)}};
}

json::object NamesOf(const std::vector<std::string_view>& names) {
  json::array values;
  for (const auto name : names) values.emplace_back(name);
  return {{"type", "string"}, {"enum", std::move(values)}};
}
const std::vector<std::string_view>& DeadlineKindNames() { return workflow::DeadlineKinds(); }
const std::vector<std::string_view>& IncidentKindNames() { return workflow::IncidentKinds(); }
json::object Names(const std::vector<std::string_view>& names) { return NamesOf(names); }

json::object Schemas() {
  json::array problem_types;
  for (const auto& info : ProblemCatalogue()) problem_types.emplace_back(TypeUri(info.kind));
  json::array event_types;
  for (auto name : workflow::AllEventNames()) event_types.emplace_back(name);
  json::object schemas;
  schemas["ReasonCode"] = ReasonCodeSchema();
  schemas["Problem"] = {
      {"type", "object"},
      {"description",
       "RFC 9457 problem details. `type` is stable and what clients branch on; `title` is fixed per type; `detail` "
       "explains this occurrence and never echoes request values. The extension members present depend on the type. "
       "A refused event (event-not-allowed, case-suspended, case-closed, guard-refused) also carries its recorded "
       "outcome: case_id, event_id, source, event_type, outcome, sequence, version, from, to, changes, allowed_events, "
       "replayed."},
      {"required", {"type", "title", "status"}},
      {"properties",
       {{"type", {{"type", "string"}, {"enum", problem_types}}},
        {"title", String()},
        {"status", Integer()},
        {"detail", String()},
        {"instance", String("the request path, when every path parameter is a plain word")},
        {"pointer", String("RFC 6901 JSON pointer to the member at fault: into the request body (`/household/0/sex`), "
                           "into the event (`/time`, `/data/expires_on`; in a batch prefixed by the index, `/3/id`), "
                           "or the CloudEvents attribute of a binary-mode ce-* header (`/id`)")},
        {"reason", Ref("ReasonCode")},
        {"allowed_events", {{"type", "array"}, {"items", String()}, {"description", "the events the case accepts now"}}},
        {"replayed", {{"type", "boolean"}, {"description", "true when this answers a redelivery of a recorded event"}}},
        {"accepted", {{"type", "array"}, {"items", String()}, {"description", "media types or query parameters accepted"}}},
        {"parameter", String("the query parameter at fault")},
        {"errors",
         {{"type", "array"},
          {"description", "invalid-programme: every error of the definition"},
          {"items", {{"type", "object"}, {"properties", {{"pointer", String()}, {"detail", String()}}}}}}},
        {"case_id", String()},
        {"event_id", String()},
        {"source", String()},
        {"event_type", String()},
        {"outcome", {{"type", "string"}, {"enum", {"not_allowed", "guard_refused", "suspended", "closed"}}}},
        {"sequence", Integer()},
        {"version", Integer()},
        {"from", StringArray()},
        {"to", StringArray()},
        {"changes", StringArray()}}}};
  auto pair_list = [](std::string_view first, std::string_view second) {
    json::object properties{{first, String()}, {second, String()}};
    return json::object{{"type", "array"}, {"items", json::object{{"type", "object"}, {"properties", properties}}}};
  };
  schemas["PersonalData"] = {
      {"type", "object"},
      {"description",
       "Kept only in the people table; read in full by caseworkers of the case's office, audited. A partner "
       "receives, per member, only the categories its transfer purpose needs and the migrant's consent allows "
       "(listed in categories); the fields of other categories are absent"},
      {"properties",
       {{"member_id", String()},
        {"categories", {{"type", "array"}, {"items", Names(workflow::kDataCategoryNames)}}},
        {"sex", String("health: with the age, what a medical assessment needs")},
        {"birth_year", {{"type", "integer"}}},
        {"health", {{"type", "array"}, {"items", String()}, {"description", "health: health-related needs"}}},
        {"protection", {{"type", "array"}, {"items", String()}, {"description", "protection: protection flags"}}},
        {"given_names", String()},
        {"family_name", String()},
        {"date_of_birth", String("YYYY-MM-DD or a year")},
        {"documents", pair_list("type", "number")},
        {"contacts", pair_list("kind", "value")}}}};
  schemas["Referral"] = {
      {"type", "object"},
      {"description", "A referral that opens a case"},
      {"required", {"programme", "office", "host_country", "origin_country", "household"}},
      {"properties",
       {{"programme", String()},
        {"office", String("must be the caseworker token's office")},
        {"host_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"origin_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"destination_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"partners", StringArray()},
        {"received_at", DateTime()},
        {"household",
         {{"type", "array"},
          {"minItems", 1},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"member_id", String()},
              {"relationship", Names(workflow::kRelationshipNames)},
              {"sex", Names(workflow::kSexNames)},
              {"birth_year", Integer()},
              {"vulnerabilities", {{"type", "array"}, {"items", Names(workflow::kVulnerabilityNames)}}},
              {"personal_data", Ref("PersonalData")}}}}}}}}}};
  schemas["Case"] = {
      {"type", "object"},
      {"description", "A case's workflow position. Partners get it without household, programme and office."},
      {"properties",
       {{"case_id", String()},
        {"stage", String()},
        {"active_states", StringArray()},
        {"version", Integer()},
        {"host_country", String()},
        {"origin_country", String()},
        {"office", String()},
        {"partners", StringArray()},
        {"next_deadline", {{"type", {"string", "null"}}, {"format", "date-time"}}},
        {"overdue", {{"type", "array"}, {"items", Names(DeadlineKindNames())},
                     {"description", "deadlines passed while their step is still open (not for partners)"}}},
        {"programme", String("the programme's code (not for partners)")},
        {"programme_version", {{"type", "integer"}, {"description", "the programme version the case is pinned to"}}},
        {"deadlines",
         {{"type", "array"},
          {"description", "the deadlines of the case's open steps, earliest first"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"kind", Names(DeadlineKindNames())},
              {"due", DateTime()},
              {"status", {{"type", "string"}, {"enum", {"pending", "overdue"}}}}}}}}}},
        {"timers",
         {{"type", "array"},
          {"description", "the engine's timers on the case (deadlines, monitoring visits, suspension review, inbox expiry)"},
          {"items",
           {{"type", "object"},
            {"properties", {{"kind", String()}, {"due", DateTime()}, {"attempts", Integer()}}}}}}},
        {"inbox",
         {{"type", "array"},
          {"description", "early events waiting until the case can take them"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"sequence", Integer()},
              {"type", String()},
              {"source", String()},
              {"received_at", DateTime()},
              {"expires_at", DateTime()}}}}}}},
        {"incidents", {{"type", "array"}, {"description", "the case's open incidents"}, {"items", Ref("Incident")}}},
        {"key_dates", {{"type", "object"}}},
        {"allowed_events", StringArray()},
        {"household", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"personal_data", {{"type", "array"}, {"items", Ref("PersonalData")}}}}}};
  schemas["EventData"] = {
      {"type", "object"},
      {"description",
       "The event's data: exactly the members its type defines (see GET /workflow), each bounded; an event type "
       "without members takes an empty object, null or no data at all."}};
  schemas["CloudEvent"] = {
      {"type", "object"},
      {"description",
       "A CloudEvents 1.0 event in the JSON format (structured content mode, and each element of a batch). A null "
       "attribute counts as absent. Extension attributes (lower-case letters and digits) may be strings, integers or "
       "booleans; they are accepted and not stored."},
      {"required", {"specversion", "id", "source", "type"}},
      {"properties",
       {{"specversion", {{"type", "string"}, {"const", "1.0"}}},
        {"id", {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxEventIdLength},
                {"description", "with source, the idempotency key: a redelivery is answered with the recorded outcome"}}},
        {"source", {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxSourceLength},
                    {"description", "URI-reference of the sending system; must be one of the sender token's "
                                    "scope.sources (403 otherwise)"}}},
        {"type", {{"type", "string"}, {"enum", event_types}}},
        {"subject", {{"type", {"string", "null"}}, {"minLength", 1}, {"maxLength", kMaxSubjectLength},
                     {"description", "the case id: required on POST /events; on /cases/{case_id}/events optional "
                                     "and must match"}}},
        {"time", {{"type", {"string", "null"}}, {"format", "date-time"},
                  {"description", "RFC 3339; when absent, the time of receipt"}}},
        {"datacontenttype", {{"type", {"string", "null"}},
                             {"description", "a JSON media type (application/json, application/*+json), parameters allowed"}}},
        {"dataschema", {{"type", {"string", "null"}}, {"maxLength", kMaxSourceLength}}},
        {"data", {{"oneOf", json::array{Ref("EventData"), {{"type", "null"}}}}}}}},
      {"additionalProperties", {{"type", {"string", "integer", "boolean", "null"}}}}};
  schemas["CloudEventBatch"] = {
      {"type", "array"},
      {"description", fmt::format("A CloudEvents JSON batch: each element is decoded and answered on its own; at most "
                                  "server.max_batch_events ({} by default) elements",
                                  config::Settings{}.server.max_batch_events)},
      {"minItems", 1},
      {"items", Ref("CloudEvent")}};
  schemas["EventOutcome"] = {
      {"type", "object"},
      {"description", "The recorded outcome of an applied event (a redelivery answers the same, with replayed true)"},
      {"properties",
       {{"case_id", String()},
        {"event_id", String()},
        {"source", String()},
        {"type", String()},
        {"outcome", {{"type", "string"},
                     {"enum", {"applied", "deferred", "not_allowed", "guard_refused", "suspended", "closed"}},
                     {"description", "deferred (202): the case cannot take the event yet but will in its normal course; "
                                     "it waits in the case's inbox for the programme's early_event_wait"}}},
        {"replayed", Boolean()},
        {"sequence", Integer()},
        {"version", Integer()},
        {"from", StringArray()},
        {"to", StringArray()},
        {"reason", Ref("ReasonCode")},
        {"changes", StringArray()},
        {"allowed_events", StringArray()}}}};
  schemas["BatchResult"] = {
      {"type", "object"},
      {"description", "One answer per batch element, in order: the outcome when applied, otherwise its problem"},
      {"properties",
       {{"applied", Integer()},
        {"refused", Integer()},
        {"results",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"index", Integer()},
              {"status", Integer()},
              {"outcome", Ref("EventOutcome")},
              {"problem", Ref("Problem")}}}}}}}}}};
  schemas["HistoryPage"] = {
      {"type", "object"},
      {"description", "A page of a case's event log, oldest first, pseudonymous"},
      {"properties",
       {{"case_id", String()},
        {"next_after", {{"type", {"integer", "null"}}}},
        {"entries",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"sequence", Integer()},
              {"source", String()},
              {"event_id", String()},
              {"type", String()},
              {"actor", String()},
              {"occurred_at", DateTime()},
              {"recorded_at", DateTime()},
              {"outcome", String()},
              // Rows recorded by earlier versions keep the code they were refused with: not narrowed to today's.
              {"reason", String("the reason code the event was refused with (see ReasonCode)")},
              {"states_before", StringArray()},
              {"states_after", StringArray()},
              {"changes", StringArray()},
              {"version_after", Integer()}}}}}}}}}};
  schemas["SearchPage"] = {
      {"type", "object"},
      {"description", "A page of cases (keyset pagination) with counts by stage"},
      {"properties",
       {{"cases", {{"type", "array"}, {"items", Ref("Case")}}},
        {"next_cursor", {{"type", {"string", "null"}}}},
        {"counts_by_stage", {{"type", "object"}, {"additionalProperties", Integer()}}}}}};
  const json::object sources = {
      {"type", "array"},
      {"maxItems", 20},
      {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 500}}},
      {"description",
       "The CloudEvents `source` values this token's events may carry (URI-references without spaces or '|'); an "
       "event with another source is refused with 403. Default: urn:returnflow:token:<name>. Not for admins."}};
  schemas["TokenScope"] = {
      {"type", "object"},
      {"description",
       "What the token may reach; the members allowed depend on the role: caseworker office and sources; partner "
       "organisation, event_types and sources; supervisor countries and sources; admin none."},
      {"additionalProperties", false},
      {"properties",
       {{"office", String("caseworker: the office whose cases it handles")},
        {"organisation", String("partner: the organisation cases are assigned to")},
        {"event_types", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", event_types}}},
                         {"description", "partner: the event types it may send"}}},
        {"countries", {{"type", "array"}, {"items", String()},
                       {"description", "supervisor: ISO 3166-1 alpha-2 host or origin countries, or \"*\""}}},
        {"sources", sources}}}};
  schemas["TokenRequest"] = {
      {"type", "object"},
      {"description", "A token to create"},
      {"required", {"name", "role"}},
      {"additionalProperties", false},
      {"properties",
       {{"name", {{"type", "string"}, {"maxLength", 100}}},
        {"role", Names(workflow::kRoleNames)},
        {"scope", Ref("TokenScope")}}}};
  schemas["Token"] = {
      {"type", "object"},
      {"description", "A token as listed (never its secret) or as created (the secret shown once)"},
      {"properties",
       {{"token_id", String()},
        {"name", String()},
        {"role", Names(workflow::kRoleNames)},
        {"scope", Ref("TokenScope")},
        {"created_at", DateTime()},
        {"revoked_at", {{"type", {"string", "null"}}, {"format", "date-time"}}},
        {"token", String("the bearer secret, only in the creation response")}}}};
  schemas["TokenList"] = {
      {"type", "object"},
      {"description", "Every token, active and revoked"},
      {"properties", {{"tokens", {{"type", "array"}, {"items", Ref("Token")}}}}}};
  schemas["Incident"] = {
      {"type", "object"},
      {"description", "Something the engine found that needs a person: raised by the clock, never by a caller"},
      {"properties",
       {{"incident_id", String()},
        {"case_id", String()},
        {"kind", Names(IncidentKindNames())},
        {"subject", String("what within the kind: the deadline, the monitoring visit, the early event's type")},
        {"opened_at", DateTime()},
        {"office", String()},
        {"host_country", String()},
        {"origin_country", String()},
        {"status", {{"type", "string"}, {"enum", {"open", "resolved"}}}},
        {"resolved_at", {{"type", {"string", "null"}}, {"format", "date-time"}}},
        {"resolved_by", {{"type", {"string", "null"}}}}}}};
  schemas["AuditEntry"] = {
      {"type", "object"},
      {"description", "One audited access to a case's personal data; ids, names of actors and categories only, never "
                      "the data itself"},
      {"properties",
       {{"access_id", String()},
        {"case_id", String()},
        {"actor", String("the token name (or the engine's own worker) that acted")},
        {"action", {{"type", "string"}, {"enum", json::value_from(AuditActions())}}},
        {"purpose", String("why: an access purpose, or a transfer purpose")},
        {"at", DateTime()},
        {"recipient", {{"type", {"string", "null"}}, {"description", "a transfer's receiving organisation"}}},
        {"categories", {{"type", "array"}, {"items", String()}, {"description", "a transfer's data categories"}}},
        {"member_id", {{"type", {"string", "null"}}, {"description", "a correction's member"}}},
        {"field", {{"type", {"string", "null"}}, {"description", "a correction's field name (never its value)"}}},
        {"token_name", {{"type", {"string", "null"}}, {"description", "a token change's token"}}}}}};
  schemas["PeopleExport"] = {
      {"type", "object"},
      {"description", "Everything held about a case's people: their personal data and the case's history"},
      {"properties",
       {{"case_id", String()},
        {"people", {{"type", "array"}, {"items", Ref("PersonalData")}}},
        {"history", {{"type", "array"}, {"description", "the entries of HistoryPage, every one"}, {"items", {{"type", "object"}}}}}}}};
  schemas["PersonalDataCorrection"] = {
      {"type", "object"},
      {"description", "Exactly one personal-data field with its corrected value, validated as at referral"},
      {"minProperties", 1},
      {"maxProperties", 1},
      {"properties",
       {{"given_names", String()},
        {"family_name", String()},
        {"date_of_birth", String("YYYY-MM-DD or a year")},
        {"documents", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"contacts", {{"type", "array"}, {"items", {{"type", "object"}}}}}}},
      {"additionalProperties", false}};
  schemas["AuditPage"] = {
      {"type", "object"},
      {"description", "A page of the audit, oldest first (keyset pagination)"},
      {"properties",
       {{"entries", {{"type", "array"}, {"items", Ref("AuditEntry")}}}, {"next_cursor", {{"type", {"string", "null"}}}}}}};
  schemas["IncidentPage"] = {
      {"type", "object"},
      {"description", "A page of incidents, oldest first (keyset pagination)"},
      {"properties",
       {{"incidents", {{"type", "array"}, {"items", Ref("Incident")}}}, {"next_cursor", {{"type", {"string", "null"}}}}}}};
  const json::object duration = {{"type", "string"},
                                 {"pattern", "^([0-9]{1,6}[dh]|P[0-9]{1,6}D|PT[0-9]{1,6}H)$"},
                                 {"description", "\"30d\" (days) or \"24h\" (hours); ISO 8601 P30D, PT24H too"}};
  schemas["ProgrammeDefinition"] = {
      {"type", "object"},
      {"description",
       "A programme's rules as its managers define them (config/programmes/<code>.toml holds the same shape). Every "
       "member but name is optional; a changed definition becomes the next version, and cases keep the version they "
       "were created under (the unsafe-destination list excepted: eligibility reads the current one)."},
      {"required", {"name"}},
      {"properties",
       {{"code", String("must equal the path's code when given")},
        {"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 200}}},
        {"unsafe_destinations", {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}}}},
        {"no_show_limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}}},
        {"early_event_wait", duration},
        {"deferrable_events", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", event_types}}}}},
        {"suspension_review", duration},
        {"closures_exempt_from_approval",
         {{"type", "array"},
          {"description", "Outcomes a caseworker closes with alone (case.closed); every other but withdrawn and "
                          "deceased is case.closure_requested then a supervisor's case.closure_approved"},
          {"items", Names(workflow::kOutcomeNames)}}},
        {"closures_needing_supervisor",
         {{"type", "array"},
          {"deprecated", true},
          {"description", "Replaced by closures_exempt_from_approval (its complement); not with it"},
          {"items", Names(workflow::kOutcomeNames)}}},
        {"reports",
         {{"type", "object"},
          {"description", "Small-cell protection of the programme's reports"},
          {"properties",
           {{"small_cells", Names(workflow::kSmallCellsNames)},
            {"suppress_below", {{"type", "integer"}, {"minimum", 2}, {"maximum", 100}}}}}}},
        {"service_levels",
         {{"type", "object"},
          {"properties",
           {{"eligibility", duration},
            {"counselling", duration},
            {"documentation", duration},
            {"booking", duration},
            {"plan_after_arrival", duration},
            {"briefing_before_departure", duration}}}}},
        {"monitoring",
         {{"type", "array"},
          {"items", {{"type", "object"}, {"properties", {{"after", duration}, {"grace", duration}}}}}}}}}};
  schemas["Programme"] = {
      {"type", "object"},
      {"description", "A programme version: its definition with its code and version number"},
      {"allOf", json::array{Ref("ProgrammeDefinition"),
                            {{"type", "object"},
                             {"properties",
                              {{"version", Integer()},
                               {"created", Boolean()},
                               {"versions",
                                {{"type", "array"},
                                 {"items",
                                  {{"type", "object"},
                                   {"properties", {{"version", Integer()}, {"registered_at", DateTime()}}}}}}}}}}}}};
  schemas["ProgrammeList"] = {
      {"type", "object"},
      {"description", "Every programme's latest version"},
      {"properties", {{"programmes", {{"type", "array"}, {"items", Ref("Programme")}}}}}};
  schemas["ClockAdvance"] = {
      {"type", "object"},
      {"description", "Exactly one of advance and seconds"},
      {"additionalProperties", false},
      {"properties", {{"advance", duration}, {"seconds", {{"type", "integer"}, {"minimum", 0}, {"maximum", 316224000}}}}}};
  schemas["ClockState"] = {
      {"type", "object"},
      {"description", "The engine's time after the move, and how many timers fired until nothing more was due"},
      {"properties", {{"now", DateTime()}, {"fired", Integer()}}}};
  const auto hex = [](std::string_view what) {
    return json::object{{"type", "string"}, {"pattern", "^[0-9a-f]+$"}, {"description", what}};
  };
  schemas["Checkpoint"] = {
      {"type", "object"},
      {"description",
       "A signed statement over every case's history head (README, \"Verifying the history\"): Ed25519 over "
       "id, created_at, case_count, digest, previous_digest and key_id, each length-prefixed"},
      {"required", {"checkpoint_id", "created_at", "case_count", "digest", "previous_digest", "signature", "key_id",
                    "public_key", "public_key_pem"}},
      {"properties",
       {{"checkpoint_id", Integer()},
        {"created_at", DateTime()},
        {"case_count", Integer()},
        {"digest", hex("SHA-256 over the covered (case id, sequence, head) list, in case-id order")},
        {"previous_digest", hex("The previous checkpoint's digest (64 zeros for the first)")},
        {"signature", hex("Ed25519 signature")},
        {"key_id", hex("First 16 hex digits of SHA-256 over the raw public key")},
        {"public_key", hex("Raw Ed25519 public key")},
        {"public_key_pem", {{"type", "string"}, {"description", "The public key as PEM, for verify --public-key"}}}}}};
  schemas["Status"] = {
      {"type", "object"}, {"description", "A liveness or readiness answer"}, {"properties", {{"status", String()}}}};
  const json::object organisation = {
      {"type", "string"}, {"pattern", "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}, {"description", "An organisation id"}};
  schemas["PartnerAssignment"] = {{"type", "object"},
                                  {"additionalProperties", false},
                                  {"required", {"organisation"}},
                                  {"properties", {{"organisation", organisation}}}};
  schemas["PartnerChange"] = {
      {"type", "object"},
      {"description", "What assigning or unassigning came to; `changed` false when it was so already"},
      {"properties",
       {{"case_id", String()},
        {"organisation", String()},
        {"assigned", Boolean()},
        {"changed", Boolean()},
        {"version", Integer()},
        {"partners", StringArray()}}}};
  schemas["ConsentRequest"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"recipient", "purpose", "categories"}},
      {"description", "The migrant's consent to transfer these categories of their personal data to one organisation "
                      "for one purpose. No free text: nothing in a consent record is personal data beyond the member id."},
      {"properties",
       {{"member_id", String("the data subject; required when the household has several members")},
        {"recipient", organisation},
        {"purpose", Names(workflow::kTransferPurposeNames)},
        {"categories", {{"type", "array"}, {"minItems", 1}, {"uniqueItems", true},
                        {"items", Names(workflow::kDataCategoryNames)}}},
        {"given_at", {{"type", "string"}, {"format", "date-time"}, {"description", "default: when recorded; never in the future"}}}}}};
  schemas["Consent"] = {
      {"type", "object"},
      {"properties",
       {{"consent_id", String()},
        {"case_id", String()},
        {"member_id", String()},
        {"recipient", String()},
        {"purpose", Names(workflow::kTransferPurposeNames)},
        {"categories", {{"type", "array"}, {"items", Names(workflow::kDataCategoryNames)}}},
        {"given_at", DateTime()},
        {"withdrawn_at", {{"type", {"string", "null"}}, {"format", "date-time"}}},
        {"in_effect", Boolean()},
        {"recorded_by", String("the caseworker token that recorded it (caseworkers only)")},
        {"withdrawn_by", String("the caseworker token that withdrew it (caseworkers only)")},
        {"version", {{"type", "integer"}, {"description", "the case version after the change (writes only)"}}},
        {"replayed", {{"type", "boolean"}, {"description", "a repeat of an Idempotency-Key (recording only)"}}},
        {"changed", {{"type", "boolean"}, {"description", "false: withdrawn already (withdrawal only)"}}}}}};
  schemas["ConsentList"] = {
      {"type", "object"},
      {"description", "Caseworkers of the office: every record; partners: those naming their organisation; "
                      "supervisors: the counts only (no `consents`)"},
      {"properties",
       {{"case_id", String()},
        {"in_effect", Integer()},
        {"withdrawn", Integer()},
        {"consents", {{"type", "array"}, {"items", Ref("Consent")}}}}}};
  schemas["SubscriptionRequest"] = {
      {"type", "object"},
      {"description", "Who hears what: exactly one of organisation (a partner) and office (a caseworker office)"},
      {"required", {"notifications", "delivery"}},
      {"additionalProperties", false},
      {"properties",
       {{"organisation", String("a partner organisation (routed by the case's partners when each change commits)")},
        {"office", String("a caseworker office")},
        {"notifications",
         {{"type", "array"},
          {"minItems", 1},
          {"maxItems", 50},
          {"items", String("case.opened, state.entered, stage.entered, event.applied, event.refused, deadline.passed, deadline.approaching "
                           "or incident.opened, optionally ':' and a name or a prefix ending in '*' "
                           "(state.entered:travel.awaiting_booking)")}}},
        {"delivery", {{"type", "string"}, {"enum", {"webhook", "feed"}}}},
        {"url", String("webhook only: http:// or https://, a destination the delivery.allow setting allows")}}}};
  schemas["SubscriptionPatch"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties", {{"notifications", StringArray()}, {"url", String()}, {"enabled", Boolean()}}}};
  schemas["Subscription"] = {
      {"type", "object"},
      {"description", "A subscription as listed (never its secret) or as created or rotated (the secret shown once)"},
      {"properties",
       {{"subscription_id", String()},
        {"organisation", String()},
        {"office", String()},
        {"notifications", StringArray()},
        {"delivery", {{"type", "string"}, {"enum", {"webhook", "feed"}}}},
        {"url", String()},
        {"enabled", Boolean()},
        {"disabled_at", DateTime()},
        {"disabled_reason", String()},
        {"previous_secret_until", DateTime()},
        {"secret", String("whsec_ + base64: the Standard Webhooks signing secret, only when created or rotated")},
        {"created_at", DateTime()},
        {"updated_at", DateTime()},
        {"version", Integer()}}}};
  schemas["SubscriptionList"] = {
      {"type", "object"},
      {"description", "Every subscription"},
      {"properties", {{"subscriptions", {{"type", "array"}, {"items", Ref("Subscription")}}}}}};
  schemas["DeliveryAttemptList"] = {
      {"type", "object"},
      {"description", "A subscription's webhook attempts, newest first"},
      {"properties",
       {{"attempts",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"notification_id", String()},
              {"attempt", Integer()},
              {"attempted_at", DateTime()},
              {"status", {{"type", {"integer", "null"}}}},
              {"error", {{"type", {"string", "null"}}}},
              {"duration_ms", {{"type", "number"}}}}}}}}}}}};
  schemas["NotificationList"] = {
      {"type", "object"},
      {"description", "A subscription's notifications (status dead: the dead letters)"},
      {"properties",
       {{"notifications",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"notification_id", String()},
              {"case_id", String()},
              {"kind", String()},
              {"subject", String()},
              {"status", {{"type", "string"}, {"enum", {"pending", "delivered", "dead", "feed"}}}},
              {"attempts", Integer()},
              {"created_at", DateTime()},
              {"next_attempt_at", DateTime()},
              {"delivered_at", {{"type", {"string", "null"}}, {"format", "date-time"}}},
              {"last_status", {{"type", {"integer", "null"}}}},
              {"last_error", {{"type", {"string", "null"}}}}}}}}}}}}};
  schemas["ReplayRequest"] = {
      {"type", "object"},
      {"required", {"from", "to"}},
      {"additionalProperties", false},
      {"description", "The notifications created in [from, to] are sent again, with their ids"},
      {"properties", {{"from", DateTime()}, {"to", DateTime()}}}};
  schemas["Replay"] = {
      {"type", "object"},
      {"description", "A replay as audited: who, when, what range, how many"},
      {"properties",
       {{"replay_id", String()},
        {"subscription_id", String()},
        {"actor", String()},
        {"replayed_at", DateTime()},
        {"from", DateTime()},
        {"to", DateTime()},
        {"notifications", Integer()}}}};
  schemas["ReplayList"] = {
      {"type", "object"},
      {"description", "Every replay of a subscription"},
      {"properties", {{"replays", {{"type", "array"}, {"items", Ref("Replay")}}}}}};
  schemas["Feed"] = {
      {"type", "object"},
      {"description", "A page of the caller's feed: CloudEvents 1.0 as a webhook would carry them, and where to go on"},
      {"properties",
       {{"events", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"next_cursor", String("the cursor of the next read (also when nothing came)")}}}};
  return schemas;
}

/// The parameters of an event route: the CloudEvents attributes of binary content mode. The binding maps
/// every other attribute, extensions included, to a header of its own name after "ce-".
json::array BinaryModeHeaders() {
  const auto attribute = [](std::string_view name, json::object schema, std::string_view what) {
    return HeaderParam(fmt::format("ce-{}", name), std::move(schema),
                       fmt::format("Binary content mode: the CloudEvents attribute `{}`{}. Values are percent-encoded "
                                   "UTF-8 (the HTTP binding, 3.1.3.2); header names are case-insensitive.",
                                   name, what));
  };
  return {attribute("specversion", {{"type", "string"}, {"const", "1.0"}},
                    ", required in binary mode: its presence is what marks a request as binary mode"),
          attribute("id", String(), ", required in binary mode; with source, the idempotency key"),
          attribute("source", String(), ", required in binary mode; one of the token's scope.sources"),
          attribute("type", String(), ", required in binary mode: the workflow event type"),
          attribute("subject", String(), ": the case id (required on POST /events)"),
          attribute("time", DateTime(), ": RFC 3339, the time of receipt when absent"),
          attribute("dataschema", String(), "")};
}

constexpr std::string_view kContentModes =
    "CloudEvents 1.0 in each content mode of the HTTP binding: structured (`application/cloudevents+json`, charset "
    "utf-8 only), binary (the attributes in `ce-*` headers, percent-encoded; the body is the event data as "
    "`application/json` or another `+json` type, or empty when the event has none; `ce-datacontenttype` is refused "
    "because Content-Type carries it){}. Extension attributes (`ce-<name>` headers or members) are accepted and not "
    "stored. Every event is deduplicated on (source, id): a redelivery, in any mode, answers the recorded outcome with "
    "`replayed: true`, and the same key with other content is an idempotency-conflict. Roles: caseworkers (their "
    "office's cases), partners (the event types of their scope, on cases assigned to them), supervisors (approvals "
    "only); admins send no events.";

json::object EventRequestBody(bool batch) {
  json::object content{{"application/cloudevents+json", {{"schema", Ref("CloudEvent")}}}};
  if (batch) content["application/cloudevents-batch+json"] = {{"schema", Ref("CloudEventBatch")}};
  content["application/json"] = {{"schema", Ref("EventData")}};
  return {{"required", false},
          {"description",
           std::string("Structured mode: the event. ") + (batch ? "Batch mode: an array of events. " : "") +
               "Binary mode: the event data (any application/*+json type), or no body for an event without data."},
          {"content", std::move(content)}};
}

json::object EventResponses(bool batch) {
  json::object responses{
      {"200", batch ? Reply("The outcome (single event), or one answer per element (batch)",
                            json::object{{"oneOf", json::array{Ref("EventOutcome"), Ref("BatchResult")}}})
                    : Reply("Applied, or a redelivery of an applied event (replayed: true)", Ref("EventOutcome"))},
      {"400", ProblemReply("Malformed JSON; missing or invalid CloudEvents attributes (pointer names the attribute); an "
                           "event type the workflow does not know; data that does not fit the type (pointer into data)",
                           {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest, ProblemKind::kInvalidCloudEvent,
                            ProblemKind::kUnknownEventType, ProblemKind::kInvalidEventData})},
      {"403", ProblemReply("The token may not send this event type, or the event's source is not one of its scope.sources",
                           {ProblemKind::kForbidden})},
      {"404", NotVisible()},
      {"409", ProblemReply("Not allowed in the current state (allowed_events lists those that are), the case is suspended "
                           "or closed, If-Match names another version, or (source, id) was recorded with other content",
                           {ProblemKind::kNotAllowedInState, ProblemKind::kCaseSuspended, ProblemKind::kCaseClosed,
                            ProblemKind::kVersionConflict, ProblemKind::kIdempotencyConflict})},
      {"413", batch ? ProblemReply("The body is larger than the server accepts, or the batch holds more events than "
                                   "server.max_batch_events",
                                   {ProblemKind::kPayloadTooLarge})
                    : BodyTooLarge()},
      {"415", ProblemReply(batch ? "Neither a CloudEvent, a batch nor binary mode; a charset other than utf-8; "
                                   "binary-mode data that is not JSON"
                                 : "Neither a CloudEvent nor binary mode (batches go to POST /events); a charset other "
                                   "than utf-8; binary-mode data that is not JSON",
                           {ProblemKind::kUnsupportedMediaType})},
      {"202", Reply("Deferred: the case cannot take the event yet but will in its normal course; it waits in the case's "
                    "inbox (outcome deferred) and is applied when the case gets there, or expires after the programme's "
                    "early_event_wait and raises an incident",
                    Ref("EventOutcome"))},
      {"422", ProblemReply("A workflow guard refused the event (reason is its registered code), or a programme.changed "
                           "names a version the programme does not have",
                           {ProblemKind::kGuardRefused, ProblemKind::kUnknownProgramme})},
      {"500", CaseServerError()},
      {"503", ProblemReply("The outcome is unknown (the commit may or may not have happened): re-send the same event "
                           "with the same source and id, which either applies it or answers the recorded outcome. Or "
                           "the database is not reachable, or the server is at its connection limit or shutting down",
                           {ProblemKind::kOutcomeUnknown, ProblemKind::kUnavailable, ProblemKind::kTooManyConnections,
                            ProblemKind::kShuttingDown})}};
  return responses;
}

}  // namespace

json::value OpenApiDocument() {
  json::object paths;
  const json::object case_id = PathParam("case_id", "pseudonymous case id");
  const json::object if_match =
      HeaderParam("If-Match", String(), "The case version the sender saw (its ETag); 409 version-conflict when it differs");
  const json::object limit = QueryParam(
      "limit", {{"type", "integer"}, {"minimum", 1}},
      fmt::format("Page size: by default server.default_page_size ({}), at most server.max_page_size ({})",
                  config::defaults::kDefaultPageSize, config::defaults::kMaxPageSize));

  paths["/cases"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "createCase", "cases", "Create a case from a referral",
             "Opens a case in the referral stage. Roles: caseworker (of the referral's office). An Idempotency-Key "
             "makes a retry return the case it created.",
             {{"201", Reply("Created; Location names the case and ETag carries its version", Ref("Case"))},
              {"400", ProblemReply("Malformed JSON, or an invalid referral (pointer names the member)",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not a caseworker of that office", {ProblemKind::kForbidden})},
              {"409", ProblemReply("The Idempotency-Key was used for another referral", {ProblemKind::kIdempotencyConflict})},
              {"413", BodyTooLarge()},
              {"422", ProblemReply("The programme named is not registered (GET /programmes lists them)",
                                   {ProblemKind::kUnknownProgramme})},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{HeaderParam(
             "Idempotency-Key", {{"type", "string"}, {"maxLength", 200}},
             "At most 200 printable characters; a retry with the same key and referral returns the same case")};
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("Referral"))}};
         return operation;
       }()},
      {"get",
       [&] {
         auto operation = Operation(
             "searchCases", "cases", "Search cases with counts by stage",
             "Keyset pagination over the cases the caller may see. Roles: caseworker (its office), supervisor (its "
             "countries).",
             {{"200", Reply("One page", Ref("SearchPage"))},
              {"400", ProblemReply("A filter, cursor or limit that is not valid", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Partners and admins do not search", {ProblemKind::kForbidden})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             QueryParam("stage", String(), "referral, counselling, documentation, travel, reintegration, suspended or closed"),
             QueryParam("state", String(), "An active leaf state"),
             QueryParam("host_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}, "ISO 3166-1 alpha-2"),
             QueryParam("origin_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}, "ISO 3166-1 alpha-2"),
             QueryParam("office", String(), "The office"),
             QueryParam("partner", String(), "An assigned partner organisation"),
             QueryParam("vulnerability", Names(workflow::kVulnerabilityNames), "A vulnerability flag of a member"),
             QueryParam("overdue", [] {
                          json::array values{"true", "false"};
                          for (auto kind : workflow::DeadlineKinds()) values.emplace_back(kind);
                          return json::object{{"type", "string"}, {"enum", std::move(values)}};
                        }(),
                        "true: cases with a deadline passed while its step is open; a deadline kind: that one"),
             QueryParam("incident", Boolean(), "true: cases with an open incident; false: cases without"),
             QueryParam("updated_since", DateTime(), "RFC 3339"),
             QueryParam("cursor", String(), "next_cursor of the previous page"),
             limit,
             QueryParam("counts", Boolean(), "Include counts_by_stage (default true)")};
         return operation;
       }()}};
  paths["/cases/{case_id}"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "getCase", "cases", "Read a case",
             "Stage, active sub-states, version (also as ETag), key dates and the events it accepts next. Roles: "
             "caseworker (its office), partner (assigned), supervisor (its countries). Personal data only for "
             "caseworkers of the office, with a purpose that is audited.",
             {{"200", Reply("The case", Ref("Case"))},
              {"400", ProblemReply("An include or purpose that is not valid", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("An admin token, or personal data asked for by a caller who may not see it",
                                   {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             case_id, QueryParam("include", {{"type", "string"}, {"enum", {"personal_data"}}},
                                 "personal_data: in full for caseworkers of the office; for a partner, what its "
                                 "purpose needs and the consents allow; audited"),
             QueryParam("purpose", {{"type", "string"}},
                        "Why personal data is read, recorded in the audit. Caseworkers: one of the access purposes "
                        "(default caseworker_view). Partners: one of the transfer purposes (required), and only for "
                        "the part of the return their token serves")};
         return operation;
       }()}};
  paths["/cases/{case_id}/events"] = {
      {"post",
       [&] {
         auto operation = Operation("postCaseEvent", "events", "Send one CloudEvent to the case in the URL",
                                    fmt::format(kContentModes, ""), EventResponses(false));
         json::array parameters{case_id, if_match};
         for (auto& header : BinaryModeHeaders()) parameters.push_back(std::move(header));
         operation["parameters"] = std::move(parameters);
         operation["requestBody"] = EventRequestBody(false);
         return operation;
       }()}};
  paths["/cases/{case_id}/history"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "caseHistory", "cases", "Read a case's event log",
             "Every event recorded on the case, refusals included, oldest first and pseudonymous. Roles: caseworker "
             "(its office), partner (assigned), supervisor (its countries).",
             {{"200", Reply("A page of history", Ref("HistoryPage"))},
              {"400", ProblemReply("An after or limit that is not valid", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Admin tokens do not read cases", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             case_id, QueryParam("after", {{"type", "integer"}, {"minimum", 0}}, "The sequence to start after"), limit};
         return operation;
       }()}};
  paths["/cases/{case_id}/people"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "exportPeople", "cases", "Export everything held about a case's people",
             "Their personal data and the case's history, as JSON; audited (action export) with the read. Roles: "
             "caseworker (its office).",
             {{"200", Reply("The export", Ref("PeopleExport"))},
              {"400", BadTarget()},
              {"403", ProblemReply("Personal data is for caseworkers of the case's office", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id};
         return operation;
       }()}};
  paths["/cases/{case_id}/people/{member_id}"] = {
      {"patch",
       [&] {
         auto operation = Operation(
             "correctPerson", "cases", "Correct one personal-data field of one member",
             "Audited (action correct) with the member id and the field's name, never its value. Roles: caseworker "
             "(its office).",
             {{"200", Reply("The member's personal data as now stored", Ref("PersonalData"))},
              {"400", ProblemReply("Malformed JSON, not exactly one field, or an invalid value",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Personal data is for caseworkers of the case's office", {ProblemKind::kForbidden})},
              {"404", ProblemReply("No such case visible to the caller, or no personal data for the member",
                                   {ProblemKind::kNotFound})},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id, PathParam("member_id", "the member id of the household")};
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("PersonalDataCorrection"))}};
         return operation;
       }()}};
  paths["/cases/{case_id}/partners"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "assignPartner", "cases", "Assign a partner organisation to a case",
             "The organisation's tokens see the case and send its events from the next request on. Recorded in the "
             "history (case.partner_assigned, by the caller) with a new case version; assigning one already assigned "
             "changes nothing (`changed` false). What a partner may send is its token's scope, not the case's. At most "
             "20 partners. Roles: caseworker (its office), admin.",
             {{"200", Reply("Assigned, or assigned already; ETag carries the case version", Ref("PartnerChange"))},
              {"400", ProblemReply("Malformed JSON, an invalid organisation id or If-Match",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not a caseworker or an admin", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"409", ProblemReply("If-Match names another version, or the case has 20 partners",
                                   {ProblemKind::kVersionConflict, ProblemKind::kConflict})},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id, if_match};
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("PartnerAssignment"))}};
         return operation;
       }()}};
  paths["/cases/{case_id}/partners/{organisation}"] = {
      {"delete",
       [&] {
         auto operation = Operation(
             "unassignPartner", "cases", "Unassign a partner organisation",
             "From its very next request the organisation's tokens are answered as for an unknown case (404), reads "
             "and events alike; an event that raced the change is either in the history before it or refused. "
             "Recorded in the history (case.partner_unassigned); unassigning one not assigned changes nothing. Roles: "
             "caseworker (its office), admin.",
             {{"200", Reply("Unassigned, or not assigned; ETag carries the case version", Ref("PartnerChange"))},
              {"400", ProblemReply("An invalid organisation id or If-Match, or a body", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not a caseworker or an admin", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"409", ProblemReply("If-Match names another version", {ProblemKind::kVersionConflict})},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id, PathParam("organisation", "the organisation id"), if_match};
         return operation;
       }()}};
  paths["/cases/{case_id}/consents"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "recordConsent", "cases", "Record a consent to transfer personal data",
             "Recorded in the history (case.consent_recorded, by the caller) with a new case version. Personal data "
             "goes to an organisation only for a purpose and in categories a consent in effect names. At most 200 "
             "records per case. Roles: caseworker (its office).",
             {{"201", Reply("Recorded; Location names it, ETag carries the case version", Ref("Consent"))},
              {"200", Reply("A repeat of the Idempotency-Key: the record it created", Ref("Consent"))},
              {"400", ProblemReply("Malformed JSON, an invalid consent (pointer names the member) or If-Match",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not a caseworker", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"409", ProblemReply("If-Match names another version, the key was used for another consent, or the case "
                                   "holds 200 records",
                                   {ProblemKind::kVersionConflict, ProblemKind::kIdempotencyConflict,
                                    ProblemKind::kConflict})},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             case_id, if_match,
             HeaderParam("Idempotency-Key", {{"type", "string"}, {"maxLength", 200}},
                         "At most 200 printable characters; a retry with the same key and consent answers the record "
                         "it created")};
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("ConsentRequest"))}};
         return operation;
       }()},
      {"get",
       [&] {
         auto operation = Operation(
             "listConsents", "cases", "Read a case's consent records",
             "Oldest first, withdrawn ones included (never deleted). Roles: caseworker (its office: every record), "
             "partner (assigned: the records naming it, without who recorded them), supervisor (its countries: the "
             "counts only).",
             {{"200", Reply("The records the caller may see", Ref("ConsentList"))},
              {"400", BadTarget()},
              {"403", ProblemReply("Admin tokens do not read cases", {ProblemKind::kForbidden})},
              {"404", NotVisible()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id};
         return operation;
       }()}};
  paths["/cases/{case_id}/consents/{consent_id}/withdrawal"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "withdrawConsent", "cases", "Withdraw a consent",
             "At once: no transfer decided after this answer relies on it. The record stays, with when and by whom "
             "it was withdrawn; recorded in the history (case.consent_withdrawn). Withdrawing it again changes "
             "nothing. No body. Roles: caseworker (its office).",
             {{"200", Reply("Withdrawn, or withdrawn already", Ref("Consent"))},
              {"400", ProblemReply("A body, or an invalid If-Match", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not a caseworker", {ProblemKind::kForbidden})},
              {"404", ProblemReply("No such case visible to the caller, or no such consent on it", {ProblemKind::kNotFound})},
              {"409", ProblemReply("If-Match names another version", {ProblemKind::kVersionConflict})},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id, PathParam("consent_id", "the consent's id"), if_match};
         return operation;
       }()}};
  paths["/cases/{case_id}/erasure-approval"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "approveErasure", "cases", "Approve the erasure of a closed case's personal data",
             "The second person: a caseworker of the office asked for it (event personal_data.erasure_requested "
             "on the closed case). Recorded in the history as personal_data.erased (basis request, the admin as "
             "actor); the case's people rows and their data keys are removed in the same transaction, the "
             "pseudonymous workflow data and every report figure stay. The clock does the same, unasked, when the "
             "programme's personal_data_retention after closure has passed. No body. Roles: admin.",
             {{"200", Reply("Erased", Ref("EventOutcome"))},
              {"400", ProblemReply("A body, or an invalid If-Match", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
              {"404", ProblemReply("No such case", {ProblemKind::kNotFound})},
              {"409", ProblemReply("The case is not closed, or If-Match names another version",
                                   {ProblemKind::kNotAllowedInState, ProblemKind::kVersionConflict})},
              {"422", ProblemReply("No erasure was requested (erasure_not_requested), the requester cannot approve "
                                   "it (erasure_needs_second_person), or it is erased already (personal_data_erased)",
                                   {ProblemKind::kGuardRefused})},
              {"500", CaseServerError()},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{case_id, if_match};
         return operation;
       }()}};
  paths["/events"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "postEvents", "events", "Send a CloudEvent or a batch; the subject names the case",
             fmt::format(kContentModes, ", or a batch (`application/cloudevents-batch+json`, answered per element)"),
             EventResponses(true));
         operation["parameters"] = BinaryModeHeaders();
         operation["requestBody"] = EventRequestBody(true);
         return operation;
       }()}};
  paths["/workflow"] = {
      {"get", Operation("getWorkflow", "workflow", "Read the workflow definition",
                        "States, events, transitions, guards and their reason codes, read from the machine's tables. "
                        "Roles: caseworker, partner, supervisor.",
                        {{"200", Reply("The definition", json::object{{"type", "object"}})},
                         {"400", BadTarget()},
                         {"403", ProblemReply("Admin tokens do not read it", {ProblemKind::kForbidden})}})}};
  paths["/tokens"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "createToken", "tokens", "Create an API token",
             "Roles: admin. The secret is in this response only; the engine keeps its SHA-256 digest.",
             {{"201", Reply("Created, with the secret", Ref("Token"))},
              {"400", ProblemReply("Malformed JSON, or an invalid role or scope (pointer names the member)",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
              {"409", ProblemReply("The name is taken", {ProblemKind::kConflict})},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}});
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("TokenRequest"))}};
         return operation;
       }()},
      {"get", Operation("listTokens", "tokens", "List API tokens", "Roles: admin. Never their secrets.",
                        {{"200", Reply("The tokens", Ref("TokenList"))},
                         {"400", BadTarget()},
                         {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
                         {"503", Unavailable()}})}};
  paths["/tokens/{token_name}"] = {
      {"delete",
       [&] {
         auto operation = Operation("revokeToken", "tokens", "Revoke an API token",
                                    "Roles: admin. The token stops authenticating at once.",
                                    {{"204", Reply("Revoked")},
                                     {"400", BadTarget()},
                                     {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
                                     {"404", ProblemReply("No active token with this name", {ProblemKind::kNotFound})},
                                     {"503", Unavailable()}});
         operation["parameters"] = json::array{PathParam("token_name", "The token's name")};
         return operation;
       }()}};
  const json::object code_param = PathParam("code", "the programme's code (a-z, 0-9, '-', '_')");
  paths["/programmes"] = {
      {"get", Operation("listProgrammes", "programmes", "List programmes",
                        "Every programme's latest version. Roles: caseworker, supervisor, admin.",
                        {{"200", Reply("The programmes", Ref("ProgrammeList"))},
                         {"400", BadTarget()},
                         {"403", ProblemReply("Partners do not read programmes", {ProblemKind::kForbidden})},
                         {"503", Unavailable()}})}};
  paths["/programmes/{code}"] = {
      {"get",
       [&] {
         auto operation = Operation("getProgramme", "programmes", "Read a programme",
                                    "Its latest version and the list of every version. Roles: caseworker, supervisor, admin.",
                                    {{"200", Reply("The programme; ETag carries its version", Ref("Programme"))},
                                     {"400", BadTarget()},
                                     {"403", ProblemReply("Partners do not read programmes", {ProblemKind::kForbidden})},
                                     {"404", ProblemReply("No programme with this code", {ProblemKind::kNotFound})},
                                     {"503", Unavailable()}});
         operation["parameters"] = json::array{code_param};
         return operation;
       }()},
      {"put",
       [&] {
         auto operation = Operation(
             "putProgramme", "programmes", "Define or change a programme",
             "Roles: admin. A changed definition is stored as the next version (201); the same definition again "
             "answers the latest (200). New cases are pinned to the latest version.",
             {{"200", Reply("Unchanged: the latest version", Ref("Programme"))},
              {"201", Reply("A new version", Ref("Programme"))},
              {"400", ProblemReply("Malformed JSON, or a code that is not valid", {ProblemKind::kMalformedJson,
                                                                                  ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"422", ProblemReply("The definition has errors; errors lists each with its pointer",
                                   {ProblemKind::kInvalidDefinition})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{code_param};
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("ProgrammeDefinition"))}};
         return operation;
       }()}};
  paths["/incidents"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "listIncidents", "incidents", "List incidents",
             "Deadlines passed, monitoring visits missed, early events expired, timers failing. Roles: caseworker "
             "(its office), supervisor (its countries).",
             {{"200", Reply("One page", Ref("IncidentPage"))},
              {"400", ProblemReply("A filter, cursor or limit that is not valid", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Partners and admins do not handle incidents", {ProblemKind::kForbidden})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             QueryParam("kind", Names(IncidentKindNames()), "Only this kind"),
             QueryParam("office", String(), "Only this office's"),
             QueryParam("case_id", String(), "Only this case's"),
             QueryParam("status", {{"type", "string"}, {"enum", {"open", "resolved", "all"}}}, "Default open"),
             QueryParam("cursor", String(), "next_cursor of the previous page"),
             limit};
         return operation;
       }()}};
  paths["/incidents/{incident_id}/resolve"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "resolveIncident", "incidents", "Resolve an incident",
             "Recorded with who resolved it. Refused while what the incident reports still holds (the deadline's "
             "step still open, the timer still failing). Roles: caseworker (its office), supervisor (its countries).",
             {{"200", Reply("Resolved", Ref("Incident"))},
              {"400", BadTarget()},
              {"403", ProblemReply("Partners and admins do not handle incidents", {ProblemKind::kForbidden})},
              {"404", ProblemReply("No such incident visible to the caller", {ProblemKind::kNotFound})},
              {"409", ProblemReply("Resolved already, or what it reports still holds",
                                   {ProblemKind::kConflict, ProblemKind::kConditionHolds})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{PathParam("incident_id", "the incident's id")};
         return operation;
       }()}};
  paths["/testing/clock"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "advanceTestingClock", "service", "Move the testing clock forward",
             "Only on a server started with --testing-clock (404 otherwise); for tests and rehearsals. Roles: admin. "
             "Moves the engine's time forward and fires every timer that became due before answering.",
             {{"200", Reply("The new time", Ref("ClockState"))},
              {"400", ProblemReply("Malformed JSON or an invalid body", {ProblemKind::kMalformedJson,
                                                                        ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
              {"404", ProblemReply("The server has no testing clock", {ProblemKind::kNotFound})},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}});
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("ClockAdvance"))}};
         return operation;
       }()}};
  paths["/admin/checkpoints"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "createCheckpoint", "service", "Sign a history checkpoint now",
             "Signs a checkpoint over every case's history head (as the engine does every "
             "history.checkpoint_interval) and answers it; keep its digest outside the database to detect the "
             "newest checkpoint being removed. No body, or an empty JSON object. Roles: admin.",
             {{"201", Reply("The checkpoint", Ref("Checkpoint"))},
              {"400", ProblemReply("Malformed JSON, or a body that is not empty", {ProblemKind::kMalformedJson,
                                                                                  ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an admin", {ProblemKind::kForbidden})},
              {"409", ProblemReply("Another process signed one at the same moment", {ProblemKind::kConflict})},
              {"415", ProblemReply("A body that is not application/json", {ProblemKind::kUnsupportedMediaType})},
              {"503", ProblemReply("No signing key is configured (history.signing_key), or the database is unavailable",
                                   {ProblemKind::kNotConfigured, ProblemKind::kUnavailable})}});
         return operation;
       }()}};
  const json::object subscription_param = PathParam("subscription_id", "the subscription's id");
  const auto admin_only = [] { return ProblemReply("Not an admin", {ProblemKind::kForbidden}); };
  const auto no_subscription = [] { return ProblemReply("No such subscription", {ProblemKind::kNotFound}); };
  const auto with_subscription = [&](json::object operation) {
    operation["parameters"] = json::array{subscription_param};
    return operation;
  };
  paths["/subscriptions"] = {
      {"post",
       [&] {
         auto operation = Operation(
             "createSubscription", "subscriptions", "Subscribe an organisation or office to notifications",
             "Roles: admin. A webhook's whsec_ signing secret is in this response only. Notifications are written "
             "to the outbox in the transaction of the change that causes them, for the organisations that are "
             "partners of the case (or its office) at that moment.",
             {{"201", Reply("Created, with the secret", Ref("Subscription"))},
              {"400", ProblemReply("Malformed JSON or an invalid member (pointer names it)",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", admin_only()},
              {"413", BodyTooLarge()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}});
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("SubscriptionRequest"))}};
         return operation;
       }()},
      {"get", Operation("listSubscriptions", "subscriptions", "List subscriptions", "Roles: admin. Never their secrets.",
                        {{"200", Reply("The subscriptions", Ref("SubscriptionList"))},
                         {"400", BadTarget()},
                         {"403", admin_only()},
                         {"503", Unavailable()}})}};
  paths["/subscriptions/{subscription_id}"] = {
      {"get", with_subscription(Operation("getSubscription", "subscriptions", "Read a subscription",
                                          "Roles: admin. Never its secret; the ETag is its version.",
                                          {{"200", Reply("The subscription", Ref("Subscription"))},
                                           {"400", BadTarget()},
                                           {"403", admin_only()},
                                           {"404", no_subscription()},
                                           {"503", Unavailable()}}))},
      {"patch",
       [&] {
         auto operation = with_subscription(Operation(
             "updateSubscription", "subscriptions", "Change a subscription's notifications, URL or enabled state",
             "Roles: admin. If-Match names the version the change was made on. Enabling a disabled subscription "
             "sends what waited, in order.",
             {{"200", Reply("Changed", Ref("Subscription"))},
              {"400", ProblemReply("Malformed JSON or an invalid member",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", admin_only()},
              {"404", no_subscription()},
              {"409", ProblemReply("If-Match names another version", {ProblemKind::kVersionConflict})},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}}));
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("SubscriptionPatch"))}};
         return operation;
       }()},
      {"delete", with_subscription(Operation("deleteSubscription", "subscriptions", "Remove a subscription",
                                             "Roles: admin. Its undelivered notifications go with it.",
                                             {{"204", Reply("Removed")},
                                              {"400", BadTarget()},
                                              {"403", admin_only()},
                                              {"404", no_subscription()},
                                              {"503", Unavailable()}}))}};
  paths["/subscriptions/{subscription_id}/rotate-secret"] = {
      {"post", with_subscription(Operation(
                   "rotateSubscriptionSecret", "subscriptions", "Give a webhook subscription a new secret",
                   "Roles: admin. The new secret is in this response only; the previous one keeps signing, as a "
                   "second signature in webhook-signature, for delivery.secret_overlap_ms.",
                   {{"200", Reply("Rotated, with the new secret", Ref("Subscription"))},
                    {"400", ProblemReply("A feed has no secret, or the request has a body", {ProblemKind::kInvalidRequest})},
                    {"403", admin_only()},
                    {"404", no_subscription()},
                    {"503", Unavailable()}}))}};
  paths["/subscriptions/{subscription_id}/attempts"] = {
      {"get",
       [&] {
         auto operation = Operation("listDeliveryAttempts", "subscriptions", "List a subscription's webhook attempts",
                                    "Roles: admin. Newest first.",
                                    {{"200", Reply("The attempts", Ref("DeliveryAttemptList"))},
                                     {"400", BadTarget()},
                                     {"403", admin_only()},
                                     {"404", no_subscription()},
                                     {"503", Unavailable()}});
         operation["parameters"] = json::array{subscription_param, QueryParam("limit", Integer(), "At most this many")};
         return operation;
       }()}};
  paths["/subscriptions/{subscription_id}/notifications"] = {
      {"get",
       [&] {
         auto operation = Operation("listNotifications", "subscriptions", "List a subscription's notifications",
                                    "Roles: admin. status=dead lists the dead letters (the retry schedule ran out).",
                                    {{"200", Reply("The notifications", Ref("NotificationList"))},
                                     {"400", BadTarget()},
                                     {"403", admin_only()},
                                     {"404", no_subscription()},
                                     {"503", Unavailable()}});
         operation["parameters"] = json::array{
             subscription_param,
             QueryParam("status", {{"type", "string"}, {"enum", {"pending", "delivered", "dead", "feed"}}}, "Only these"),
             QueryParam("limit", Integer(), "At most this many")};
         return operation;
       }()}};
  paths["/subscriptions/{subscription_id}/replays"] = {
      {"post",
       [&] {
         auto operation = with_subscription(Operation(
             "replayNotifications", "subscriptions", "Send a range of notifications again",
             "Roles: admin. Delivered and dead notifications created in the range go out again with their ids "
             "(receivers deduplicate by webhook-id); audited with who, when and the range.",
             {{"201", Reply("Replayed", Ref("Replay"))},
              {"400", ProblemReply("Malformed JSON, a bad range, or a feed subscription",
                                   {ProblemKind::kMalformedJson, ProblemKind::kInvalidRequest})},
              {"403", admin_only()},
              {"404", no_subscription()},
              {"415", ProblemReply("Not application/json in UTF-8", {ProblemKind::kUnsupportedMediaType})},
              {"503", Unavailable()}}));
         operation["requestBody"] = {{"required", true}, {"content", Content(Ref("ReplayRequest"))}};
         return operation;
       }()},
      {"get", with_subscription(Operation("listReplays", "subscriptions", "List a subscription's replays",
                                          "Roles: admin.",
                                          {{"200", Reply("The replays", Ref("ReplayList"))},
                                           {"400", BadTarget()},
                                           {"403", admin_only()},
                                           {"404", no_subscription()},
                                           {"503", Unavailable()}}))}};
  paths["/feed"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "readFeed", "subscriptions", "Read the caller's notification feed",
             "Roles: partner (its organisation's feed subscription), caseworker (its office's). The same "
             "notifications in the same order as a webhook would carry them, each a CloudEvent. Long-polls up to "
             "`wait` seconds (at most delivery.feed_max_wait_ms) for the first one.",
             {{"200", Reply("A page of the feed", Ref("Feed"))},
              {"400", ProblemReply("A bad parameter, or a cursor that is not one of the caller's feed",
                                   {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Supervisors and admins have no feed", {ProblemKind::kForbidden})},
              {"404", ProblemReply("The caller has no feed subscription", {ProblemKind::kNotFound})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             QueryParam("cursor", String(), "next_cursor of the previous read; none: from the beginning"),
             QueryParam("limit", Integer(), "At most this many events"),
             QueryParam("wait", Integer(), "Seconds to wait for the first event when there is none")};
         return operation;
       }()}};
  paths["/audit"] = {
      {"get",
       [&] {
         auto operation = Operation(
             "listAudit", "audit", "Read the personal-data audit",
             "Every read, write, creation, erasure, transfer, export and correction of personal data, oldest "
             "first. Roles: auditor, admin. The rows name ids, actors, purposes and categories, never the data.",
             {{"200", Reply("One page", Ref("AuditPage"))},
              {"400", ProblemReply("A filter, cursor or limit that is not valid", {ProblemKind::kInvalidRequest})},
              {"403", ProblemReply("Not an auditor or admin", {ProblemKind::kForbidden})},
              {"503", Unavailable()}});
         operation["parameters"] = json::array{
             QueryParam("case_id", String(), "Only this case's"),
             QueryParam("actor", String(), "Only this actor's (a token name)"),
             QueryParam("action", {{"type", "string"}, {"enum", json::value_from(AuditActions())}}, "Only this action"),
             QueryParam("from", DateTime(), "At or after this time"),
             QueryParam("to", DateTime(), "Before this time (later than from)"),
             QueryParam("cursor", String(), "next_cursor of the previous page"),
             limit};
         return operation;
       }()}};
  paths["/healthz"] = {
      {"get", Operation("healthz", "service", "Liveness", "The process is up. No token.",
                        {{"200", Reply("Up", Ref("Status"))}, {"400", BadTarget()}}, false)}};
  paths["/readyz"] = {
      {"get", Operation("readyz", "service", "Readiness", "The database answers. No token.",
                        {{"200", Reply("Ready", Ref("Status"))}, {"400", BadTarget()}, {"503", Unavailable()}}, false)}};
  paths["/metrics"] = {
      {"get", Operation("metrics", "service", "Prometheus metrics",
                        "Requests and event outcomes by route, type and reason. Roles: admin, supervisor.",
                        {{"200", Reply("The text exposition format", String(), "text/plain")},
                         {"400", BadTarget()},
                         {"403", ProblemReply("Not an admin or supervisor", {ProblemKind::kForbidden})}})}};
  paths["/openapi.json"] = {
      {"get", Operation("openapi", "service", "This document", "Roles: any valid token but an auditor's.",
                        {{"200", Reply("OpenAPI 3.1", json::object{{"type", "object"}})}, {"400", BadTarget()}})}};

  const config::Settings defaults;
  json::object document;
  document["openapi"] = "3.1.0";
  document["info"] = {
      {"title", "returnflow"},
      {"version", "0.1.0"},
      {"description",
       "Workflow engine for assisted voluntary return and reintegration cases. Every error is an RFC 9457 problem "
       "document (application/problem+json) with a stable type."}};
  document["servers"] = json::array{
      {{"url", fmt::format("http://{}:{}", defaults.server.listen_address, defaults.server.listen_port)},
       {"description", "returnflow serve with its default settings (config/returnflow.toml sets others)"}}};
  document["tags"] = json::array{
      {{"name", "audit"}, {"description", "Who accessed personal data, when and why: for auditors and admins"}},
      {{"name", "cases"}, {"description", "Referrals, case reads, search and history"}},
      {{"name", "events"}, {"description", "CloudEvents from caseworkers and partners, in every HTTP content mode"}},
      {{"name", "incidents"}, {"description", "What the engine's clock found that needs a person"}},
      {{"name", "programmes"}, {"description", "Programme definitions: server-side, versioned rules"}},
      {{"name", "service"}, {"description", "Liveness, readiness, metrics and this document"}},
      {{"name", "subscriptions"}, {"description", "Partners hear from the engine: subscriptions, webhooks, the feed"}},
      {{"name", "tokens"}, {"description", "API tokens, managed by admins"}},
      {{"name", "workflow"}, {"description", "The case workflow definition"}}};
  document["security"] = json::array{{{"bearer", json::array()}}};
  document["paths"] = std::move(paths);
  document["components"] = {
      {"schemas", Schemas()},
      {"securitySchemes",
       {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"description", "An API token (returnflow token create, or POST /tokens)"}}}}}};
  return document;
}

}  // namespace returnflow::api
