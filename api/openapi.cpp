#include "api/openapi.hpp"

#include <boost/json.hpp>

#include "api/problem.hpp"
#include "workflow/events.hpp"

namespace returnflow::api {

namespace json = boost::json;

namespace {

json::object Ref(std::string_view name) { return {{"$ref", "#/components/schemas/" + std::string(name)}}; }

json::object JsonContent(json::object schema, std::string_view media_type = "application/json") {
  return {{std::string(media_type), json::object{{"schema", std::move(schema)}}}};
}

json::object Reply(std::string_view description, std::optional<json::object> schema = std::nullopt,
                   std::string_view media_type = "application/json") {
  json::object response{{"description", description}};
  if (schema) response["content"] = JsonContent(std::move(*schema), media_type);
  return response;
}

json::object ProblemReply(std::string_view description) {
  return Reply(description, Ref("Problem"), kProblemContentType);
}

json::object PathParam(std::string_view name, std::string_view description) {
  return {{"name", name}, {"in", "path"}, {"required", true}, {"description", description},
          {"schema", {{"type", "string"}}}};
}

json::object QueryParam(std::string_view name, std::string_view type, std::string_view description) {
  return {{"name", name}, {"in", "query"}, {"required", false}, {"description", description},
          {"schema", {{"type", type}}}};
}

json::object Operation(std::string_view id, std::string_view summary, std::initializer_list<std::string_view> roles,
                       json::object responses, bool authenticated = true) {
  json::object operation{{"operationId", id}, {"summary", summary}};
  std::string role_text;
  for (auto role : roles) role_text += (role_text.empty() ? "" : ", ") + std::string(role);
  if (authenticated) {
    operation["description"] = "Roles: " + role_text + ".";
    responses["401"] = ProblemReply("missing, unknown or revoked token");
  } else {
    operation["security"] = json::array();
  }
  operation["responses"] = std::move(responses);
  return operation;
}

json::object StringArraySchema() { return {{"type", "array"}, {"items", {{"type", "string"}}}}; }

json::object Schemas() {
  json::array problem_types;
  for (const auto& info : ProblemCatalogue()) problem_types.emplace_back("urn:returnflow:problem:" + std::string(info.slug));
  json::array event_types;
  for (auto name : workflow::AllEventNames()) event_types.emplace_back(name);
  json::object schemas;
  schemas["Problem"] = {
      {"type", "object"},
      {"description", "RFC 9457 problem details; `type` is stable, extension members depend on the type"},
      {"required", {"type", "title", "status"}},
      {"properties",
       {{"type", {{"type", "string"}, {"enum", problem_types}}},
        {"title", {{"type", "string"}}},
        {"status", {{"type", "integer"}}},
        {"detail", {{"type", "string"}}},
        {"instance", {{"type", "string"}}},
        {"allowed_events", StringArraySchema()},
        {"reason", {{"type", "string"}}},
        {"replayed", {{"type", "boolean"}}}}}};
  auto pair_list = [](std::string_view first, std::string_view second) {
    json::object properties{{first, {{"type", "string"}}}, {second, {{"type", "string"}}}};
    return json::object{{"type", "array"}, {"items", json::object{{"type", "object"}, {"properties", properties}}}};
  };
  schemas["PersonalData"] = {
      {"type", "object"},
      {"properties",
       {{"given_names", {{"type", "string"}}},
        {"family_name", {{"type", "string"}}},
        {"date_of_birth", {{"type", "string"}, {"description", "YYYY-MM-DD or a year"}}},
        {"documents", pair_list("type", "number")},
        {"contacts", pair_list("kind", "value")}}}};
  schemas["Referral"] = {
      {"type", "object"},
      {"required", {"programme", "office", "host_country", "origin_country", "household"}},
      {"properties",
       {{"programme", {{"type", "string"}}},
        {"office", {{"type", "string"}, {"description", "must be the caseworker token's office"}}},
        {"host_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"origin_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"destination_country", {{"type", "string"}, {"pattern", "^[A-Z]{2}$"}}},
        {"partners", StringArraySchema()},
        {"received_at", {{"type", "string"}, {"format", "date-time"}}},
        {"programme_rules",
         {{"type", "object"},
          {"properties",
           {{"unsafe_destinations", StringArraySchema()},
            {"no_show_limit", {{"type", "integer"}}},
            {"monitoring_visits", {{"type", "integer"}}}}}}},
        {"household",
         {{"type", "array"},
          {"minItems", 1},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"member_id", {{"type", "string"}}},
              {"relationship", {{"enum", {"principal", "dependant"}}}},
              {"sex", {{"enum", {"female", "male", "other", "unknown"}}}},
              {"birth_year", {{"type", "integer"}}},
              {"vulnerabilities", StringArraySchema()},
              {"personal_data", Ref("PersonalData")}}}}}}}}}};
  schemas["Case"] = {
      {"type", "object"},
      {"description", "Partners get the workflow position without household, programme and office."},
      {"properties",
       {{"case_id", {{"type", "string"}}},
        {"stage", {{"type", "string"}}},
        {"active_states", StringArraySchema()},
        {"version", {{"type", "integer"}}},
        {"host_country", {{"type", "string"}}},
        {"origin_country", {{"type", "string"}}},
        {"office", {{"type", "string"}}},
        {"partners", StringArraySchema()},
        {"next_deadline", {{"type", {"string", "null"}}, {"format", "date-time"}}},
        {"key_dates", {{"type", "object"}}},
        {"allowed_events", StringArraySchema()},
        {"household", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"personal_data", {{"type", "array"}, {"items", Ref("PersonalData")}}}}}};
  schemas["CloudEvent"] = {
      {"type", "object"},
      {"description", "CloudEvents 1.0, structured mode"},
      {"required", {"specversion", "id", "source", "type", "time"}},
      {"properties",
       {{"specversion", {{"const", "1.0"}}},
        {"id", {{"type", "string"}, {"description", "with source, the idempotency key"}}},
        {"source", {{"type", "string"}}},
        {"type", {{"type", "string"}, {"enum", event_types}}},
        {"subject", {{"type", "string"}, {"description", "the case id (required on /events)"}}},
        {"time", {{"type", "string"}, {"format", "date-time"}}},
        {"datacontenttype", {{"const", "application/json"}}},
        {"data", {{"type", "object"}}}}}};
  schemas["EventOutcome"] = {
      {"type", "object"},
      {"properties",
       {{"case_id", {{"type", "string"}}},
        {"event_id", {{"type", "string"}}},
        {"source", {{"type", "string"}}},
        {"type", {{"type", "string"}}},
        {"outcome", {{"enum", {"applied", "not_allowed", "guard_refused", "suspended", "closed"}}}},
        {"replayed", {{"type", "boolean"}}},
        {"sequence", {{"type", "integer"}}},
        {"version", {{"type", "integer"}}},
        {"from", StringArraySchema()},
        {"to", StringArraySchema()},
        {"reason", {{"type", "string"}}},
        {"changes", StringArraySchema()},
        {"allowed_events", StringArraySchema()}}}};
  schemas["BatchResult"] = {
      {"type", "object"},
      {"properties",
       {{"applied", {{"type", "integer"}}},
        {"refused", {{"type", "integer"}}},
        {"results",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"index", {{"type", "integer"}}},
              {"status", {{"type", "integer"}}},
              {"outcome", Ref("EventOutcome")},
              {"problem", Ref("Problem")}}}}}}}}}};
  schemas["HistoryPage"] = {
      {"type", "object"},
      {"properties",
       {{"case_id", {{"type", "string"}}},
        {"next_after", {{"type", {"integer", "null"}}}},
        {"entries", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  schemas["SearchPage"] = {
      {"type", "object"},
      {"properties",
       {{"cases", {{"type", "array"}, {"items", Ref("Case")}}},
        {"next_cursor", {{"type", {"string", "null"}}}},
        {"counts_by_stage", {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}}}}};
  schemas["TokenRequest"] = {
      {"type", "object"},
      {"required", {"name", "role"}},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"role", {{"enum", {"caseworker", "partner", "supervisor", "admin"}}}},
        {"scope",
         {{"type", "object"},
          {"properties",
           {{"office", {{"type", "string"}}},
            {"organisation", {{"type", "string"}}},
            {"event_types", StringArraySchema()},
            {"countries", StringArraySchema()}}}}}}}};
  schemas["Token"] = {
      {"type", "object"},
      {"properties",
       {{"token_id", {{"type", "string"}}},
        {"name", {{"type", "string"}}},
        {"role", {{"type", "string"}}},
        {"scope", {{"type", "object"}}},
        {"created_at", {{"type", "string"}}},
        {"revoked_at", {{"type", {"string", "null"}}}},
        {"token", {{"type", "string"}, {"description", "only in the creation response"}}}}}};
  return schemas;
}

}  // namespace

json::value OpenApiDocument() {
  json::object paths;
  const json::object case_id = PathParam("case_id", "pseudonymous case id");
  const json::object if_match = {{"name", "If-Match"}, {"in", "header"}, {"required", false},
                                 {"description", "case version the sender saw; 409 version-conflict when it differs"},
                                 {"schema", {{"type", "string"}}}};
  const json::object cloud_event_body = {
      {"required", true},
      {"content", JsonContent(Ref("CloudEvent"), "application/cloudevents+json")}};
  json::object event_responses{
      {"200", Reply("applied (or a replayed duplicate of an applied event)", Ref("EventOutcome"))},
      {"400", ProblemReply("malformed JSON, missing CloudEvents attributes, unknown event type or bad data")},
      {"403", ProblemReply("the token may not send this event type")},
      {"404", ProblemReply("no such case visible to the caller")},
      {"409", ProblemReply("not allowed in the current state (allowed_events listed), suspended, closed, If-Match version conflict, or same (source, id) with other content")},
      {"413", ProblemReply("body too large")},
      {"415", ProblemReply("wrong content type")},
      {"422", ProblemReply("refused by a workflow guard (reason code)")},
      {"503", ProblemReply("database unavailable")}};

  paths["/cases"] = {
      {"post",
       [&] {
         auto operation = Operation("createCase", "Create a case from a referral", {"caseworker (own office)"},
                                    {{"201", Reply("created", Ref("Case"))},
                                     {"400", ProblemReply("invalid referral")},
                                     {"403", ProblemReply("not a caseworker of that office")},
                                     {"415", ProblemReply("not application/json")}});
         operation["parameters"] = json::array{{{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false},
                                                {"schema", {{"type", "string"}}}}};
         operation["requestBody"] = {{"required", true}, {"content", JsonContent(Ref("Referral"))}};
         return operation;
       }()},
      {"get",
       [&] {
         auto operation = Operation("searchCases", "Search cases (keyset pagination) with counts by stage",
                                    {"caseworker (own office)", "supervisor (its countries)"},
                                    {{"200", Reply("one page", Ref("SearchPage"))},
                                     {"400", ProblemReply("bad filter or cursor")},
                                     {"403", ProblemReply("partners and admins do not search")}});
         operation["parameters"] = json::array{
             QueryParam("stage", "string", "referral, counselling, documentation, travel, reintegration, suspended, closed"),
             QueryParam("state", "string", "an active leaf state"),
             QueryParam("host_country", "string", "ISO 3166-1 alpha-2"),
             QueryParam("origin_country", "string", "ISO 3166-1 alpha-2"),
             QueryParam("office", "string", "office"),
             QueryParam("partner", "string", "assigned partner organisation"),
             QueryParam("vulnerability", "string", "a vulnerability flag"),
             QueryParam("overdue", "boolean", "next deadline already passed"),
             QueryParam("updated_since", "string", "RFC 3339"),
             QueryParam("cursor", "string", "next_cursor of the previous page"),
             QueryParam("limit", "integer", "page size (capped)"),
             QueryParam("counts", "boolean", "include counts_by_stage (default true)")};
         return operation;
       }()}};
  paths["/cases/{case_id}"] = {
      {"get",
       [&] {
         auto operation = Operation("getCase", "A case: stage, sub-states, version, dates, allowed events",
                                    {"caseworker (own office)", "partner (assigned)", "supervisor (its countries)"},
                                    {{"200", Reply("the case", Ref("Case"))},
                                     {"400", ProblemReply("bad include")},
                                     {"403", ProblemReply("personal data asked for by a caller who may not see it")},
                                     {"404", ProblemReply("no such case visible to the caller")}});
         operation["parameters"] = json::array{
             case_id, QueryParam("include", "string", "personal_data: caseworkers of the office only; audited"),
             QueryParam("purpose", "string", "recorded in the personal-data audit")};
         return operation;
       }()}};
  paths["/cases/{case_id}/events"] = {
      {"post",
       [&] {
         auto operation = Operation("postCaseEvent", "Send one CloudEvent to the case in the URL",
                                    {"caseworker", "partner (its event types)", "supervisor (approvals only)"},
                                    event_responses);
         operation["parameters"] = json::array{case_id, if_match};
         operation["requestBody"] = cloud_event_body;
         return operation;
       }()}};
  paths["/cases/{case_id}/history"] = {
      {"get",
       [&] {
         auto operation = Operation("caseHistory", "The case's event log, pseudonymous",
                                    {"caseworker (own office)", "partner (assigned)", "supervisor (its countries)"},
                                    {{"200", Reply("a page of history", Ref("HistoryPage"))},
                                     {"404", ProblemReply("no such case visible to the caller")}});
         operation["parameters"] = json::array{case_id, QueryParam("after", "integer", "sequence to start after"),
                                               QueryParam("limit", "integer", "page size (capped)")};
         return operation;
       }()}};
  paths["/events"] = {
      {"post",
       [&] {
         auto responses = event_responses;
         responses["200"] = Reply("the outcome (single event) or per-event outcomes (batch)",
                                  json::object{{"oneOf", json::array{Ref("EventOutcome"), Ref("BatchResult")}}});
         auto operation = Operation("postEvents", "Send a CloudEvent or a batch; subject names the case",
                                    {"caseworker", "partner (its event types)", "supervisor (approvals only)"},
                                    std::move(responses));
         operation["requestBody"] = {
             {"required", true},
             {"content",
              {{"application/cloudevents+json", {{"schema", Ref("CloudEvent")}}},
               {"application/cloudevents-batch+json",
                {{"schema", {{"type", "array"}, {"items", Ref("CloudEvent")}}}}}}}};
         return operation;
       }()}};
  paths["/workflow"] = {
      {"get", Operation("getWorkflow", "The workflow definition: states, events, transitions, guards",
                        {"caseworker", "partner", "supervisor"},
                        {{"200", Reply("the definition", json::object{{"type", "object"}})},
                         {"403", ProblemReply("admin tokens do not read it")}})}};
  paths["/tokens"] = {
      {"post",
       [&] {
         auto operation = Operation("createToken", "Create an API token (the secret is shown once)", {"admin"},
                                    {{"201", Reply("created", Ref("Token"))},
                                     {"400", ProblemReply("invalid role or scope")},
                                     {"403", ProblemReply("not an admin")},
                                     {"409", ProblemReply("name already taken")}});
         operation["requestBody"] = {{"required", true}, {"content", JsonContent(Ref("TokenRequest"))}};
         return operation;
       }()},
      {"get", Operation("listTokens", "List tokens (never their secrets)", {"admin"},
                        {{"200", Reply("tokens", json::object{{"type", "object"}})},
                         {"403", ProblemReply("not an admin")}})}};
  paths["/tokens/{token_name}"] = {
      {"delete",
       [&] {
         auto operation = Operation("revokeToken", "Revoke a token", {"admin"},
                                    {{"204", Reply("revoked")},
                                     {"403", ProblemReply("not an admin")},
                                     {"404", ProblemReply("no such active token")}});
         operation["parameters"] = json::array{PathParam("token_name", "the token's name")};
         return operation;
       }()}};
  paths["/healthz"] = {{"get", Operation("healthz", "The process is up", {}, {{"200", Reply("up")}}, false)}};
  paths["/readyz"] = {{"get", Operation("readyz", "The database is reachable", {},
                                        {{"200", Reply("ready")}, {"503", ProblemReply("database unreachable")}}, false)}};
  paths["/metrics"] = {{"get", Operation("metrics", "Prometheus metrics", {"admin", "supervisor"},
                                         {{"200", Reply("text exposition format", json::object{{"type", "string"}}, "text/plain")},
                                          {"403", ProblemReply("not an admin or supervisor")}})}};
  paths["/openapi.json"] = {{"get", Operation("openapi", "This document", {"any valid token"},
                                              {{"200", Reply("OpenAPI 3.1")}})}};

  json::object document;
  document["openapi"] = "3.1.0";
  document["info"] = {{"title", "returnflow"},
                      {"version", "0.1.0"},
                      {"description", "Workflow engine for assisted voluntary return and reintegration cases. "
                                      "Every error is an RFC 9457 problem document with a stable type."}};
  document["security"] = json::array{{{"bearer", json::array()}}};
  document["paths"] = std::move(paths);
  document["components"] = {{"schemas", Schemas()},
                            {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}};
  return document;
}

}  // namespace returnflow::api
