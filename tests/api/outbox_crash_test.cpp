// The real binary killed with SIGKILL while a webhook is in flight: the restarted engine sends the same
// notification again, with the same webhook-id, once the dead engine's claim has run out.
#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/api/child_server.hpp"
#include "tests/api/support.hpp"
#include "tests/api/webhook_receiver.hpp"

namespace returnflow {

using namespace std::chrono_literals;

TEST_CASE("returnflow serve killed with SIGKILL mid-delivery redelivers with the same webhook-id after a restart",
          "[api][crash][outbox]") {
  auto backend = GENERATE(from_range(test::Backends()));
  SECTION(test::Name(backend)) {
    const test::ScratchDirectory directory("returnflow-outbox-crash");
    // On PostgreSQL a database of its own: these engines run on the real clock (see OwnPostgresDatabase).
    std::optional<test::OwnPostgresDatabase> own;
    if (backend == test::Backend::kPostgresql) own.emplace(directory.Path());
    const std::string database = own ? own->Url() : test::ChildDatabaseUrl(true, directory.Path());
    // A short claim lease: the restarted engine takes the dead one's claim over once it has run out.
    const auto config = directory.Path() / "returnflow.toml";
    std::ofstream(config) << "[delivery]\nlease_ms = 1000\npoll_interval_ms = 20\n";
    const std::string office = test::Unique("office-outbox-crash");
    const std::string caseworker =
        test::CreateCaseworkerToken(database, directory.Path(), test::Unique("caseworker-outbox"), office);
    test::WebhookReceiver receiver;
    receiver.SetStatus("/held", -1);
    // The subscription through the CLI, which prints the signing secret once.
    std::string secret = test::RunReturnflow({"subscription", "add", "--database", database, "--office", office,
                                              "--notifications", "case.opened", "--url", receiver.Url("/held")},
                                             directory.Path(), "subscription-add");
    secret.erase(secret.find_last_not_of(" \r\n") + 1);
    REQUIRE(secret.rfind("whsec_", 0) == 0);
    receiver.SetSecret("/held", secret);
    const std::vector<std::string> arguments{"--config", config.string()};
    std::string held_id;
    {
      test::ServeProcess serve(database, directory.Path(), "serve-0", arguments, /*delivery=*/true);
      test::HttpClient client(serve.Port(), caseworker);
      auto created = client.PostJson("/cases", test::Referral(office));
      REQUIRE(created.status == 201);
      REQUIRE(receiver.WaitFor([](const auto& received) { return !received.empty(); }));
      held_id = receiver.Received().front().webhook_id;
      // The webhook is in flight, unanswered: the engine dies.
      serve.Process().Signal(SIGKILL);
      REQUIRE(serve.Process().WaitExit(10s).has_value());
      serve.WaitForDatabaseSessionsToEnd(10s);
    }
    receiver.SetStatus("/held", 200);
    test::ServeProcess serve(database, directory.Path(), "serve-1", arguments, /*delivery=*/true);
    INFO(serve.Output());
    REQUIRE(receiver.WaitFor([](const auto& received) {
      return std::any_of(received.begin(), received.end(), [](const auto& webhook) { return webhook.answered == 200; });
    }));
    const auto delivered = receiver.Delivered("/held");
    REQUIRE(delivered.size() == 1);
    CHECK(delivered.front().webhook_id == held_id);
    CHECK(delivered.front().signature_valid);
  }
}

}  // namespace returnflow
