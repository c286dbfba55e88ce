// Partners hear from the engine: subscriptions, the outbox written with every change, signed webhooks
// to a real receiver that verifies every signature, retries on the testing clock, 410, replay, the pull
// feed, authorization. Each on SQLite and PostgreSQL.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <catch2/catch.hpp>
#include <soci/soci.h>

#include "api/dto.hpp"
#include "persistence/outbox.hpp"
#include "tests/api/fixture.hpp"
#include "tests/api/webhook_receiver.hpp"

namespace returnflow::test {
namespace {

namespace json = boost::json;

/// Delivery on, with the testing clock. The tests share one PostgreSQL database, so every outbox test's
/// engine may deliver another's notifications (as engines sharing a database do); each moves its clock
/// by less than the claim lease (60 s), or an engine with a later clock would take leased rows again.
void WithDelivery(config::Settings& settings) {
  settings.testing_clock = true;
  settings.delivery.enabled = true;
  settings.delivery.poll_interval = std::chrono::milliseconds(20);
}

/// The testing clock without a delivery worker, for tests that read the feed and move the clock by days:
/// a worker on a clock days ahead would take other tests' leased and waiting rows on the shared database.
void WithClock(config::Settings& settings) { settings.testing_clock = true; }

/// An admin subscribes `recipient` (an organisation, or "office:<name>") to `notifications`; a webhook to
/// the receiver's `path` (its secret given to the receiver), or a feed when `path` is empty.
std::string Subscribe(Cast& cast, WebhookReceiver* receiver, const std::string& path, const std::string& recipient,
                      json::array notifications) {
  json::object request{{"notifications", std::move(notifications)}};
  if (recipient.rfind("office:", 0) == 0) {
    request["office"] = recipient.substr(7);
  } else {
    request["organisation"] = recipient;
  }
  if (receiver) {
    request["delivery"] = "webhook";
    request["url"] = receiver->Url(path);
  } else {
    request["delivery"] = "feed";
  }
  auto created = cast.server.Client(cast.admin).PostJson("/subscriptions", request);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto parsed = created.Json();
  const auto& body = parsed.as_object();
  if (receiver) {
    const std::string secret(body.at("secret").as_string());
    REQUIRE(secret.rfind("whsec_", 0) == 0);
    receiver->SetSecret(path, secret);
  } else {
    REQUIRE(!body.contains("secret"));
  }
  std::string id(body.at("subscription_id").as_string());
  // Removed when the test ends: on the shared PostgreSQL database, a subscription left behind with its
  // receiver gone keeps due retries that every later test's engine would try (and wait on) first.
  cast.cleanups.push_back([&cast, id] { persistence::SubscriptionRepository(cast.server.Service().Database()).Remove(id); });
  return id;
}

/// Referral to the travel stage (the case waits for its booking).
void DriveToTravel(Cast& cast, const std::string& id) {
  auto& server = cast.server;
  Apply(server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
  Apply(server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
  Apply(server, cast.caseworker, id, "counselling.session_held", {}, "2026-11-04T09:00:00Z");
  Apply(server, cast.caseworker, id, "consent.recorded", {{"kind", "explicit"}}, "2026-11-04T11:00:00Z");
  Apply(server, cast.embassy_token, id, "travel_document.requested", {}, "2026-11-05T09:00:00Z");
  Apply(server, cast.immigration_token, id, "exit_clearance.requested", {}, "2026-11-05T10:00:00Z");
  Apply(server, cast.clinic_token, id, "fitness.certified", {{"valid_until", "2027-01-31"}}, "2026-11-06T09:00:00Z");
  Apply(server, cast.immigration_token, id, "exit_clearance.granted", {}, "2026-11-10T09:00:00Z");
  Apply(server, cast.embassy_token, id, "travel_document.issued", {{"expires_on", "2027-06-30"}}, "2026-11-12T09:00:00Z");
}

void DriveToArrival(Cast& cast, const std::string& id) {
  auto& server = cast.server;
  Apply(server, cast.travel_token, id, "travel.booked", {{"departure_date", "2026-12-10"}, {"route", "CGK-KUL-DAC"}},
        "2026-11-15T09:00:00Z");
  Apply(server, cast.caseworker, id, "travel.briefing_held", {{"voluntariness_confirmed", true}}, "2026-12-08T09:00:00Z");
  Apply(server, cast.travel_token, id, "travel.departed", {}, "2026-12-10T06:00:00Z");
  Apply(server, cast.reception_token, id, "travel.arrived", {}, "2026-12-10T18:00:00Z");
}

/// Every request the receiver got was signed with the subscription's secret, by the spec's algorithm.
void RequireSigned(const std::vector<ReceivedWebhook>& received) {
  for (const auto& webhook : received) {
    INFO(webhook.path << " " << webhook.webhook_id << " " << webhook.signature);
    REQUIRE(webhook.signature_valid);
    REQUIRE(webhook.event.at("id").as_string() == webhook.webhook_id);
  }
}

/// (kind, subject) of each event, in order.
std::vector<std::string> Kinds(const std::vector<ReceivedWebhook>& received) {
  std::vector<std::string> kinds;
  for (const auto& webhook : received) {
    const auto& data = webhook.event.at("data");
    kinds.push_back(std::string(data.at("kind").as_string()) + ":" + std::string(data.at("subject").as_string()));
  }
  return kinds;
}

/// Waits (polling the admin API) until `count` of the subscription's notifications are recorded delivered:
/// the receiver has answered a moment before the engine records it.
void WaitDelivered(Cast& cast, const std::string& subscription_id, std::size_t count);

json::array Notifications(Cast& cast, const std::string& subscription_id, const std::string& status = {}) {
  auto listed = cast.server.Client(cast.admin).Get("/subscriptions/" + subscription_id + "/notifications" +
                                                    (status.empty() ? "" : "?status=" + status));
  INFO(listed.body);
  REQUIRE(listed.status == 200);
  return listed.Json().at("notifications").as_array();
}

void WaitDelivered(Cast& cast, const std::string& subscription_id, std::size_t count) {
  for (int poll = 0; poll < 1000 && Notifications(cast, subscription_id, "delivered").size() < count; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(Notifications(cast, subscription_id, "delivered").size() == count);
}

}  // namespace

TEST_CASE("ready for booking reaches the travel agent, arrival the reception partner, a stranger nothing",
          "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    const auto travel = Subscribe(cast, &receiver, "/travel", cast.travel_agent, {"state.entered:travel.awaiting_booking"});
    const auto reception = Subscribe(cast, &receiver, "/reception", cast.reception, {"event.applied:travel.arrived"});
    // Subscribed to everything, but not a partner of the case.
    const auto stranger = Subscribe(cast, &receiver, "/stranger", cast.stranger,
                                    {"case.opened", "state.entered", "event.applied", "event.refused", "stage.entered"});
    const auto id = cast.CreateCase();
    DriveToTravel(cast, id);
    REQUIRE(receiver.WaitFor([](const auto& received) {
      return std::any_of(received.begin(), received.end(), [](const auto& webhook) { return webhook.path == "/travel"; });
    }));
    auto ready = receiver.Delivered("/travel");
    REQUIRE(ready.size() == 1);
    const auto& event = ready.front().event;
    CHECK(event.at("specversion") == "1.0");
    CHECK(event.at("source") == "urn:returnflow:engine");
    CHECK(event.at("subject").as_string() == id);
    CHECK(event.at("type") == "org.returnflow.state.entered");
    CHECK(event.at("data").at("subject") == "travel.awaiting_booking");
    CHECK(event.at("data").at("stage") == "travel");
    // The events this partner may send next: the booking, and nothing that is another's.
    CHECK(event.at("data").at("allowed_events") == json::array{"travel.booked"});

    DriveToArrival(cast, id);
    REQUIRE(receiver.WaitFor([](const auto& received) {
      return std::any_of(received.begin(), received.end(), [](const auto& webhook) { return webhook.path == "/reception"; });
    }));
    auto arrived = receiver.Delivered("/reception");
    REQUIRE(arrived.size() == 1);
    CHECK(arrived.front().event.at("data").at("event_type") == "travel.arrived");
    CHECK(arrived.front().event.at("data").at("stage") == "reintegration");
    RequireSigned(receiver.Received());
    // Thin: the referral's personal data is in no notification.
    for (const auto& webhook : receiver.Received()) {
      CHECK(webhook.body.find("Synthetic") == std::string::npos);
      CHECK(webhook.body.find("SYN000001") == std::string::npos);
      CHECK(webhook.body.find("1991-04-02") == std::string::npos);
    }
    // The stranger's subscription got nothing written for it, so nothing can ever be sent.
    CHECK(Notifications(cast, stranger).empty());
    CHECK(receiver.Delivered("/stranger").empty());
    WaitDelivered(cast, travel, 1);
    WaitDelivered(cast, reception, 1);
  }
}

TEST_CASE("a receiver down for a while gets every notification in order once back, retried on the engine's clock",
          "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    receiver.SetStatus("/office", 503);
    const auto office = Subscribe(cast, &receiver, "/office", "office:" + cast.office, {"event.applied", "event.refused"});
    const auto id = cast.CreateCase();
    Apply(cast.server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
    Apply(cast.server, cast.caseworker, id, "eligibility.confirmed", {{"destination_country", "BD"}}, "2026-11-03T09:00:00Z");
    auto refused = Send(cast.server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-03T10:00:00Z");
    REQUIRE((refused.status == 409 || refused.status == 422));
    Apply(cast.server, cast.caseworker, id, "counselling.session_held", {}, "2026-11-04T09:00:00Z");
    // The first notification is tried at once and fails; the ones after it wait behind it (in order).
    REQUIRE(receiver.WaitFor([](const auto& received) { return !received.empty(); }));
    const auto first_id = receiver.Received().front().webhook_id;
    receiver.SetStatus("/office", 200);
    // Nothing is retried until the engine's clock reaches the schedule's next attempt (5 s, plus jitter).
    auto moved = cast.server.Client(cast.admin).PostJson("/testing/clock", json::object{{"seconds", 10}});
    REQUIRE(moved.status == 200);
    REQUIRE(receiver.WaitFor([](const auto& received) {
      return std::count_if(received.begin(), received.end(), [](const auto& webhook) { return webhook.answered == 200; }) >= 4;
    }));
    // Moving the clock also fired the passed eligibility deadline: its notification comes after these.
    auto delivered = receiver.Delivered("/office");
    delivered.resize(4);
    RequireSigned(receiver.Received());
    CHECK(Kinds(delivered) == std::vector<std::string>{"event.applied:eligibility.review_started",
                                                       "event.applied:eligibility.confirmed",
                                                       "event.refused:eligibility.review_started",
                                                       "event.applied:counselling.session_held"});
    // The retry carried the same webhook-id as the failed attempt.
    CHECK(delivered.front().webhook_id == first_id);
    std::set<std::string> ids;
    for (const auto& webhook : delivered) ids.insert(webhook.webhook_id);
    CHECK(ids.size() == 4);
    // Every attempt is recorded, the failed one included (the last a moment after the receiver answered).
    std::size_t attempts = 0;
    for (int poll = 0; poll < 1000 && (attempts < 5 || attempts != receiver.Received().size()); ++poll) {
      auto listed = cast.server.Client(cast.admin).Get("/subscriptions/" + office + "/attempts");
      REQUIRE(listed.status == 200);
      attempts = listed.Json().at("attempts").as_array().size();
      if (attempts < 5 || attempts != receiver.Received().size()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::string answered;
    for (const auto& webhook : receiver.Received()) answered += std::to_string(webhook.answered) + " " + webhook.webhook_id + ";";
    INFO(answered);
    CHECK(attempts == receiver.Received().size());
    CHECK(attempts >= 5);
  }
}

TEST_CASE("an endpoint answering 410 Gone disables its subscription", "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    receiver.SetStatus("/gone", 410);
    const auto gone = Subscribe(cast, &receiver, "/gone", "office:" + cast.office, {"case.opened"});
    cast.CreateCase();
    REQUIRE(receiver.WaitFor([](const auto& received) { return !received.empty(); }));
    bool disabled = false;
    for (int poll = 0; poll < 1000 && !disabled; ++poll) {
      auto got = cast.server.Client(cast.admin).Get("/subscriptions/" + gone);
      REQUIRE(got.status == 200);
      disabled = got.Json().at("enabled") == false;
      if (!disabled) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waits on the worker, not on time
    }
    CHECK(disabled);
    // Nothing more goes to it.
    cast.CreateCase();
    auto moved = cast.server.Client(cast.admin).PostJson("/testing/clock", json::object{{"seconds", 30}});
    REQUIRE(moved.status == 200);
    CHECK_FALSE(receiver.WaitFor([](const auto& received) { return received.size() > 1; }, std::chrono::milliseconds(500)));
  }
}

TEST_CASE("an admin replays a range of a subscription's notifications with their ids, audited", "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    const auto office = Subscribe(cast, &receiver, "/office", "office:" + cast.office, {"case.opened", "event.applied"});
    const auto id = cast.CreateCase();
    Apply(cast.server, cast.caseworker, id, "eligibility.review_started", {}, "2026-11-02T09:00:00Z");
    REQUIRE(receiver.WaitFor([](const auto& received) { return received.size() == 2; }));
    // The receiver has answered; the engine records the delivery right after.
    WaitDelivered(cast, office, 2);
    auto replayed = cast.server.Client(cast.admin).PostJson(
        "/subscriptions/" + office + "/replays", json::object{{"from", "2000-01-01T00:00:00Z"}, {"to", "2100-01-01T00:00:00Z"}});
    INFO(replayed.body);
    REQUIRE(replayed.status == 201);
    CHECK(replayed.Json().at("notifications") == 2);
    REQUIRE(receiver.WaitFor([](const auto& received) { return received.size() == 4; }));
    const auto received = receiver.Received();
    RequireSigned(received);
    CHECK(received[2].webhook_id == received[0].webhook_id);
    CHECK(received[3].webhook_id == received[1].webhook_id);
    auto audit = cast.server.Client(cast.admin).Get("/subscriptions/" + office + "/replays");
    REQUIRE(audit.status == 200);
    REQUIRE(audit.Json().at("replays").as_array().size() == 1);
    CHECK(audit.Json().at("replays").at(0).at("actor").as_string().size() > 0);
    // Only admins replay.
    auto refused = cast.server.Client(cast.caseworker).PostJson(
        "/subscriptions/" + office + "/replays", json::object{{"from", "2000-01-01T00:00:00Z"}, {"to", "2100-01-01T00:00:00Z"}});
    CHECK(refused.status == 403);
  }
}

TEST_CASE("the feed pages with a cursor through what the webhook stream carries, each partner its own", "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    const json::array filters{"case.opened", "state.entered", "stage.entered", "event.applied", "event.refused"};
    Subscribe(cast, &receiver, "/embassy", cast.embassy, filters);
    Subscribe(cast, nullptr, "", cast.embassy, filters);
    const auto id = cast.CreateCase();
    DriveToTravel(cast, id);
    auto embassy = cast.server.Client(cast.embassy_token);
    std::vector<std::string> feed;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto read = embassy.Get("/feed?limit=2" + (cursor.empty() ? std::string() : "&cursor=" + cursor));
      INFO(read.body);
      REQUIRE(read.status == 200);
      const auto events = read.Json().at("events").as_array();
      CHECK(events.size() <= 2);
      cursor = std::string(read.Json().at("next_cursor").as_string());
      if (events.empty()) break;
      for (const auto& event : events) {
        CHECK(event.at("subject").as_string() == id);
        feed.push_back(std::string(event.at("data").at("kind").as_string()) + ":" +
                       std::string(event.at("data").at("subject").as_string()));
      }
    }
    REQUIRE(feed.size() > 5);
    REQUIRE(receiver.WaitFor([&](const auto& received) { return received.size() >= feed.size(); }));
    RequireSigned(receiver.Received());
    CHECK(Kinds(receiver.Delivered("/embassy")) == feed);

    // A long poll at the end returns when nothing comes within its wait, with the same cursor position.
    auto idle = embassy.Get("/feed?wait=0&cursor=" + cursor);
    REQUIRE(idle.status == 200);
    CHECK(idle.Json().at("events").as_array().empty());

    // Another partner has no feed, and cannot read the embassy's with its cursor.
    auto stranger = cast.server.Client(cast.stranger_token);
    CHECK(stranger.Get("/feed").status == 404);
    CHECK(stranger.Get("/feed?cursor=" + cursor).status == 400);
    CHECK(cast.server.Client(cast.supervisor).Get("/feed").status == 403);
    CHECK(embassy.Get("/feed?cursor=zz").status == 400);
  }
}

TEST_CASE("subscriptions are managed by admins only, and their secrets are shown once", "[api][outbox]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    const auto id = Subscribe(cast, &receiver, "/x", cast.embassy, {"case.opened"});
    auto admin = cast.server.Client(cast.admin);
    for (const auto& token : {cast.embassy_token, cast.caseworker, cast.supervisor}) {
      auto client = cast.server.Client(token);
      CHECK(client.Get("/subscriptions").status == 403);
      CHECK(client.Get("/subscriptions/" + id).status == 403);
      CHECK(client.PostJson("/subscriptions", json::object{{"organisation", "x"}, {"notifications", {"case.opened"}},
                                                          {"delivery", "feed"}}).status == 403);
    }
    auto got = admin.Get("/subscriptions/" + id);
    REQUIRE(got.status == 200);
    CHECK(!got.Json().as_object().contains("secret"));
    auto bad = admin.PostJson("/subscriptions", json::object{{"organisation", "x"}, {"notifications", {"state.left"}},
                                                             {"delivery", "feed"}});
    CHECK(bad.status == 400);
    CHECK(bad.body.find("/notifications/0") != std::string::npos);
    // Rotation: a new secret, the old one still signing beside it.
    auto rotated = admin.Request(boost::beast::http::verb::post, "/subscriptions/" + id + "/rotate-secret");
    REQUIRE(rotated.status == 200);
    const std::string fresh(rotated.Json().at("secret").as_string());
    receiver.SetSecret("/x", fresh);
    cast.CreateCase();
    REQUIRE(receiver.WaitFor([](const auto& received) { return !received.empty(); }));
    const auto webhook = receiver.Received().front();
    CHECK(webhook.signature_valid);
    CHECK(webhook.signature.find(' ') != std::string::npos);  // two signatures during the overlap
    auto patched = admin.Request(boost::beast::http::verb::patch, "/subscriptions/" + id, "{\"enabled\":false}",
                                 "application/json");
    REQUIRE(patched.status == 200);
    CHECK(patched.Json().at("enabled") == false);
    CHECK(admin.Request(boost::beast::http::verb::delete_, "/subscriptions/" + id).status == 204);
    CHECK(admin.Get("/subscriptions/" + id).status == 404);
  }
}

}  // namespace returnflow::test

namespace returnflow::test {

TEST_CASE("two engines on one PostgreSQL database deliver each notification once", "[api][outbox][postgresql]") {
  WebhookReceiver receiver;
  Cast cast(Backend::kPostgresql, WithDelivery);
  TestServer second(Backend::kPostgresql, [&](config::Settings& settings) {
    WithDelivery(settings);
    settings.database.url = cast.server.DatabaseUrl();  // the same database, of this test's own
  });
  Subscribe(cast, &receiver, "/office", "office:" + cast.office, {"case.opened"});
  constexpr int kCases = 24;
  std::set<std::string> cases;
  for (int index = 0; index < kCases; ++index) {
    // Half the referrals arrive at each engine; both deliver whatever is due.
    auto client = index % 2 == 0 ? cast.server.Client(cast.caseworker) : second.Client(cast.caseworker);
    auto created = client.PostJson("/cases", cast.Referral());
    REQUIRE(created.status == 201);
    cases.insert(std::string(created.Json().at("case_id").as_string()));
  }
  REQUIRE(receiver.WaitFor([&](const auto& received) { return received.size() >= kCases; }));
  // Anything more would come within a few polls.
  CHECK_FALSE(receiver.WaitFor([&](const auto& received) { return received.size() > kCases; }, std::chrono::milliseconds(500)));
  const auto received = receiver.Received();
  RequireSigned(received);
  std::set<std::string> ids, subjects;
  for (const auto& webhook : received) {
    ids.insert(webhook.webhook_id);
    subjects.insert(std::string(webhook.event.at("subject").as_string()));
  }
  CHECK(ids.size() == static_cast<std::size_t>(kCases));
  CHECK(subjects == cases);
}

}  // namespace returnflow::test

namespace returnflow::test {

TEST_CASE("a notification carries exactly the consented categories its purpose needs, none after withdrawal",
          "[api][outbox][privacy]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    WebhookReceiver receiver;
    Cast cast(backend, WithDelivery);
    Subscribe(cast, &receiver, "/travel", cast.travel_agent,
              {"state.entered:travel.awaiting_booking", "event.applied:travel.booked"});
    Subscribe(cast, &receiver, "/reception", cast.reception, {"event.applied:travel.arrived"});
    const auto id = cast.CreateCase();
    // Ticketing needs identity and the travel document: the contact category consented too does not go.
    json::object consent{{"recipient", cast.travel_agent},
                         {"purpose", "ticketing"},
                         {"categories", {"identity", "travel_document", "contact"}}};
    auto recorded = cast.server.Client(cast.caseworker)
                        .Request(boost::beast::http::verb::post, "/cases/" + id + "/consents", json::serialize(consent),
                                 "application/json");
    INFO(recorded.body);
    REQUIRE(recorded.status == 201);
    const std::string consent_id(recorded.Json().at("consent_id").as_string());
    DriveToTravel(cast, id);
    REQUIRE(receiver.WaitFor([](const auto& received) {
      return std::any_of(received.begin(), received.end(), [](const auto& webhook) { return webhook.path == "/travel"; });
    }));
    auto ready = receiver.Delivered("/travel");
    REQUIRE(ready.size() == 1);
    const auto& data = ready.front().event.at("data").as_object();
    REQUIRE(data.contains("personal_data"));
    const auto& members = data.at("personal_data").as_array();
    REQUIRE(members.size() == 1);
    const auto& member = members.at(0).as_object();
    CHECK(member.at("categories") == json::array{"identity", "travel_document"});
    CHECK(member.at("family_name") == "Person");
    CHECK(member.at("documents").at(0).at("number") == "SYN000001");
    CHECK_FALSE(member.contains("contacts"));
    CHECK_FALSE(member.contains("health"));
    // The transfer is audited with its recipient, purpose and categories.
    std::vector<persistence::PersonalDataRead> transfers;
    for (auto& row : persistence::PeopleRepository(cast.server.Service().Database()).AuditTrail(id)) {
      if (row.action == "transfer") transfers.push_back(row);
    }
    REQUIRE(transfers.size() == 1);
    CHECK(transfers.at(0).recipient == cast.travel_agent);
    CHECK(transfers.at(0).purpose == "ticketing");
    CHECK(transfers.at(0).categories == "|identity|travel_document|");

    // Withdrawn: the next notification to the same agent (its booking applied) carries none.
    auto withdrawn = cast.server.Client(cast.caseworker)
                         .Request(boost::beast::http::verb::post, "/cases/" + id + "/consents/" + consent_id + "/withdrawal");
    REQUIRE(withdrawn.status == 200);
    DriveToArrival(cast, id);
    REQUIRE(receiver.WaitFor([](const auto& received) {
      const auto travel = std::count_if(received.begin(), received.end(), [](const auto& webhook) { return webhook.path == "/travel"; });
      const auto reception = std::count_if(received.begin(), received.end(), [](const auto& webhook) { return webhook.path == "/reception"; });
      return travel >= 2 && reception >= 1;
    }));
    auto booked = receiver.Delivered("/travel");
    REQUIRE(booked.size() == 2);
    CHECK_FALSE(booked.at(1).event.at("data").as_object().contains("personal_data"));
    CHECK(booked.at(1).body.find("SYN000001") == std::string::npos);
    // Reception has no consent at all: nothing of the person.
    for (const auto& webhook : receiver.Delivered("/reception")) {
      CHECK_FALSE(webhook.event.at("data").as_object().contains("personal_data"));
      CHECK(webhook.body.find("Synthetic") == std::string::npos);
    }
    RequireSigned(receiver.Received());
  }
}

}  // namespace returnflow::test

namespace returnflow::test {

TEST_CASE("an office hears that a deadline approaches, on the programme's warning, then that it passed",
          "[api][outbox][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithClock);
    Subscribe(cast, nullptr, "", "office:" + cast.office, json::array{"deadline.approaching", "deadline.passed"});
    const auto id = CreateCaseNow(cast);  // eligibility due in 7 days, announced 2 days before
    auto office = cast.server.Client(cast.caseworker);
    const auto Read = [&](const std::string& cursor) {
      auto read = office.Get("/feed?wait=0" + (cursor.empty() ? std::string() : "&cursor=" + cursor));
      INFO(read.body);
      REQUIRE(read.status == 200);
      return read.Json().as_object();
    };
    // Filtered to this case: other tests' clocks and cases share the database, not this office's feed.
    const auto Mine = [&](const json::object& page) {
      std::vector<std::string> kinds;
      for (const auto& event : page.at("events").as_array()) {
        if (event.at("subject") != json::value(id)) continue;
        kinds.push_back(std::string(event.at("data").at("kind").as_string()) + ":" +
                        std::string(event.at("data").at("subject").as_string()));
      }
      return kinds;
    };
    // Another test's engine, its testing clock days ahead, may fire this case's timers before this one
    // does (one database): so the feed is read after each move and what reached it is checked as a whole,
    // and when each was due is read from the history (the clock's events carry their due instant).
    std::vector<std::string> heard;
    std::string cursor;
    const auto ReadOn = [&] {
      auto page = Read(cursor);
      for (auto& kind : Mine(page)) heard.push_back(std::move(kind));
      for (const auto& event : page.at("events").as_array()) {
        if (event.at("subject") == json::value(id) && event.at("data").at("kind") == "deadline.approaching") {
          CHECK(event.at("data").at("deadline") == "eligibility");
        }
      }
      cursor = std::string(page.at("next_cursor").as_string());
    };
    ReadOn();
    auto admin = cast.server.Client(cast.admin);
    for (const auto* step : {"4d", "2d", "2d"}) {
      REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", step}}).status == 200);
      ReadOn();
    }
    CHECK(heard == std::vector<std::string>{"deadline.approaching:eligibility", "deadline.passed:eligibility"});
    // Recorded once each in the history, the warning two days (the programme's deadline_warning) before.
    auto history = office.Get("/cases/" + id + "/history");
    REQUIRE(history.status == 200);
    std::vector<persistence::Timestamp> warned, passed;
    const auto entries = history.Json();
    for (const auto& entry : entries.at("entries").as_array()) {
      const auto at = api::ParseTimestamp(entry.at("occurred_at").as_string());
      REQUIRE(at);
      if (entry.at("type") == "deadline.approaching") warned.push_back(*at);
      if (entry.at("type") == "deadline.passed") passed.push_back(*at);
    }
    REQUIRE(warned.size() == 1);
    REQUIRE(passed.size() == 1);
    CHECK(passed.front() - warned.front() == std::chrono::hours(48));
  }
}

}  // namespace returnflow::test

namespace returnflow::test {

TEST_CASE("an incident the clock opens outside an event reaches the office subscribed to incidents",
          "[api][outbox][clock]") {
  auto backend = GENERATE(from_range(Backends()));
  SECTION(Name(backend)) {
    Cast cast(backend, WithClock);
    Subscribe(cast, nullptr, "", "office:" + cast.office, json::array{"incident.opened"});
    const auto id = CreateCaseNow(cast);
    // The stored case is damaged behind the engine's back: its timers can no longer be fired.
    {
      auto lease = cast.server.Service().Database().Lease();
      lease.Session() << "UPDATE cases SET saved_state = 'not a saved case' WHERE case_id = :case_id", soci::use(id);
    }
    auto admin = cast.server.Client(cast.admin);
    REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", "8d"}}).status == 200);
    auto read = cast.server.Client(cast.caseworker).Get("/feed?wait=0");
    INFO(read.body);
    REQUIRE(read.status == 200);
    const auto page = read.Json();
    std::vector<std::string> mine;
    for (const auto& event : page.at("events").as_array()) {
      if (event.at("subject") != json::value(id)) continue;
      mine.push_back(std::string(event.at("data").at("subject").as_string()));
      CHECK(event.at("data").at("incident").at("kind") == "case_unreadable");
    }
    CHECK(mine == std::vector<std::string>{"case_unreadable"});
    auto incidents = cast.server.Client(cast.supervisor).Get("/incidents?case_id=" + id);
    INFO(incidents.body);
    CHECK(incidents.status == 200);
  }
}

}  // namespace returnflow::test

namespace returnflow::test {
namespace {

/// A self-signed certificate for `subject_alt_name` and its key, written by the openssl command into a
/// fresh folder: {certificate, key}.
std::pair<std::string, std::string> SelfSignedCertificate(const std::string& subject_alt_name) {
  const auto folder = std::filesystem::temp_directory_path() / Unique("returnflow-tls");
  std::filesystem::create_directories(folder);
  const auto certificate = (folder / "certificate.pem").string();
  const auto key = (folder / "key.pem").string();
  const auto command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
                       "/CN=returnflow-test -addext subjectAltName=" +
                       subject_alt_name + " -keyout '" + key + "' -out '" + certificate + "' 2>/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  return {certificate, key};
}

/// The subscription's delivery attempts as "status:error" once at least one is recorded.
std::vector<std::string> AttemptsOnceTried(Cast& cast, const std::string& subscription_id) {
  std::vector<std::string> attempts;
  for (int poll = 0; poll < 1000 && attempts.empty(); ++poll) {
    auto listed = cast.server.Client(cast.admin).Get("/subscriptions/" + subscription_id + "/attempts");
    REQUIRE(listed.status == 200);
    const auto page = listed.Json();
    for (const auto& attempt : page.at("attempts").as_array()) {
      const auto& error = attempt.at("error");
      const auto& status = attempt.at("status");
      attempts.push_back((status.is_null() ? std::string("-") : std::to_string(status.to_number<int>())) + ":" +
                         (error.is_null() ? std::string() : std::string(error.as_string())));
    }
    if (attempts.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waits on the worker
  }
  return attempts;
}

}  // namespace

// On SQLite only: each test engine then has its own database, so no other test's engine (which trusts
// only the system's certificate authorities) takes these notifications first. The client is the same on
// either backend.
TEST_CASE("webhooks go over TLS to an endpoint whose certificate verifies, never to one that does not",
          "[api][outbox][tls]") {
  const auto pem = SelfSignedCertificate("IP:127.0.0.1");
  const auto& certificate = pem.first;
  WebhookReceiver receiver(WebhookReceiver::Tls{pem.first, pem.second});
  REQUIRE(receiver.Url("/x").rfind("https://", 0) == 0);

  SECTION("trusted through the configured CA file: delivered, signed") {
    Cast cast(Backend::kSqlite, [&](config::Settings& settings) {
      WithDelivery(settings);
      settings.delivery.ca_file = certificate;
    });
    const auto secure = Subscribe(cast, &receiver, "/secure", "office:" + cast.office, {"case.opened"});
    const auto id = cast.CreateCase();
    REQUIRE(receiver.WaitFor([](const auto& received) { return !received.empty(); }));
    RequireSigned(receiver.Received());
    CHECK(receiver.Delivered("/secure").front().event.at("subject") == json::value(id));
    WaitDelivered(cast, secure, 1);
  }
  SECTION("not trusted (the system's authorities): the handshake fails, nothing is sent") {
    Cast cast(Backend::kSqlite, WithDelivery);
    const auto untrusted = Subscribe(cast, &receiver, "/untrusted", "office:" + cast.office, {"case.opened"});
    cast.CreateCase();
    const auto attempts = AttemptsOnceTried(cast, untrusted);
    REQUIRE(!attempts.empty());
    CHECK(attempts.front() == "-:tls");
    CHECK(receiver.Received().empty());
    CHECK(Notifications(cast, untrusted, "delivered").empty());
  }
  SECTION("trusted, but issued for another name: refused by host name verification") {
    const auto elsewhere = SelfSignedCertificate("DNS:elsewhere.example");
    WebhookReceiver impostor(WebhookReceiver::Tls{elsewhere.first, elsewhere.second});
    Cast cast(Backend::kSqlite, [&](config::Settings& settings) {
      WithDelivery(settings);
      settings.delivery.ca_file = elsewhere.first;
    });
    const auto misnamed = Subscribe(cast, &impostor, "/misnamed", "office:" + cast.office, {"case.opened"});
    cast.CreateCase();
    const auto attempts = AttemptsOnceTried(cast, misnamed);
    REQUIRE(!attempts.empty());
    CHECK(attempts.front() == "-:tls");
    CHECK(impostor.Received().empty());
  }
}

// On SQLite only: the retention deletes by the engine's clock, which this test moves by days; on the
// shared PostgreSQL database it would delete other tests' delivered rows.
TEST_CASE("delivered notifications and their attempts are deleted after the retention, while feeds and dead letters stay",
          "[api][outbox]") {
  WebhookReceiver receiver;
  Cast cast(Backend::kSqlite, [](config::Settings& settings) {
    WithDelivery(settings);
    settings.delivery.delivered_retention = std::chrono::hours(24);
  });
  const auto hook = Subscribe(cast, &receiver, "/kept", "office:" + cast.office, {"case.opened"});
  const auto feed = Subscribe(cast, nullptr, "", "office:" + cast.office, {"case.opened"});
  const auto id = cast.CreateCase();
  WaitDelivered(cast, hook, 1);
  REQUIRE(!AttemptsOnceTried(cast, hook).empty());
  // Twelve hours on: within the retention, still listed.
  auto admin = cast.server.Client(cast.admin);
  REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", "12h"}}).status == 200);
  CHECK(Notifications(cast, hook, "delivered").size() == 1);
  // Two days on: gone, with its attempts; the feed's notification is still read.
  REQUIRE(admin.PostJson("/testing/clock", json::object{{"advance", "36h"}}).status == 200);
  bool purged = false;
  for (int poll = 0; poll < 1000 && !purged; ++poll) {
    purged = Notifications(cast, hook).empty();
    if (!purged) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waits on the worker
  }
  CHECK(purged);
  auto attempts = admin.Get("/subscriptions/" + hook + "/attempts");
  REQUIRE(attempts.status == 200);
  CHECK(attempts.Json().at("attempts").as_array().empty());
  CHECK(Notifications(cast, feed).size() == 1);
  auto read = cast.server.Client(cast.caseworker).Get("/feed?wait=0");
  REQUIRE(read.status == 200);
  bool listed = false;
  const auto page = read.Json();
  for (const auto& event : page.at("events").as_array()) listed = listed || event.at("subject") == json::value(id);
  CHECK(listed);
}

namespace {

/// The value of the sample of `name` whose labels include every one of `labels` ("key=\"value\""), or -1.
double Sample(const std::string& exposition, const std::string& name, const std::vector<std::string>& labels) {
  std::size_t start = 0;
  while (start < exposition.size()) {
    const auto end = std::min(exposition.find('\n', start), exposition.size());
    const auto line = exposition.substr(start, end - start);
    start = end + 1;
    if (line.rfind(name, 0) != 0) continue;
    const auto rest = line.substr(name.size());
    if (!rest.empty() && rest[0] != '{' && rest[0] != ' ') continue;
    if (!std::all_of(labels.begin(), labels.end(), [&](const auto& label) { return line.find(label) != std::string::npos; })) {
      continue;
    }
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

}  // namespace

// On SQLite only: the depth and the disabled subscriptions are counted over the engine's database, which
// on PostgreSQL every test shares.
TEST_CASE("the metrics show outbox depth, delivery lag, attempts by subscription and outcome, disabled subscriptions",
          "[api][outbox][metrics]") {
  WebhookReceiver receiver;
  Cast cast(Backend::kSqlite, [](config::Settings& settings) {
    WithDelivery(settings);
    settings.delivery.stats_interval = std::chrono::milliseconds(0);
  });
  receiver.SetStatus("/down", 503);
  receiver.SetStatus("/gone", 410);
  const auto up = Subscribe(cast, &receiver, "/up", "office:" + cast.office, {"case.opened"});
  const auto down = Subscribe(cast, &receiver, "/down", "office:" + cast.office, {"case.opened"});
  const auto gone = Subscribe(cast, &receiver, "/gone", "office:" + cast.office, {"case.opened"});
  cast.CreateCase();
  WaitDelivered(cast, up, 1);
  const auto Expected = [&](const std::string& body) {
    return Sample(body, "returnflow_webhook_attempts_total", {"subscription=\"" + up + "\"", "outcome=\"delivered\""}) == 1 &&
           Sample(body, "returnflow_webhook_attempts_total", {"subscription=\"" + down + "\"", "outcome=\"retry\""}) >= 1 &&
           Sample(body, "returnflow_webhook_attempts_total", {"subscription=\"" + gone + "\"", "outcome=\"disabled\""}) == 1 &&
           Sample(body, "returnflow_webhook_delivery_lag_seconds_count", {}) == 1 &&
           Sample(body, "returnflow_outbox_depth", {}) == 1 && Sample(body, "returnflow_subscriptions_disabled", {}) == 1;
  };
  std::string body;
  for (int poll = 0; poll < 1000; ++poll) {
    auto scraped = cast.server.Client(cast.supervisor).Get("/metrics");
    REQUIRE(scraped.status == 200);
    body = scraped.body;
    if (Expected(body)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waits on the worker's attempts, not on time
  }
  INFO(body);
  CHECK(Expected(body));
  // What is labelled is pseudonymous: subscription ids, never a URL or an organisation's endpoint.
  CHECK(body.find("127.0.0.1:" + std::to_string(receiver.Port())) == std::string::npos);
}

}  // namespace returnflow::test

