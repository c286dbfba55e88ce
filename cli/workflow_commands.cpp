// `returnflow workflow` exports the definition; `returnflow demo` walks a synthetic case through its life.
#include <iostream>
#include <memory>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "workflow/case.hpp"
#include "workflow/definition.hpp"

namespace returnflow::cli {
namespace {

using namespace workflow;
namespace ev = workflow::events;

void ExportWorkflow(const std::string& format) {
  const auto& definition = GetDefinition();
  if (format == "mermaid") {
    std::cout << DefinitionToMermaid(definition);
  } else if (format == "dot") {
    std::cout << DefinitionToDot(definition);
  } else if (format == "reasons") {
    std::cout << DefinitionToReasonTable(definition);
  } else {
    std::cout << boost::json::serialize(DefinitionToJson(definition)) << "\n";
  }
}

/// A synthetic household (no real person): a mother and her daughter returning from Indonesia to
/// Bangladesh, driven from referral to closure by the roles that drive it in life.
void RunDemo() {
  Programme programme;
  programme.code = "avrr-demo";
  programme.unsafe_destinations = {"AF", "SY"};
  CaseContext context;
  context.programme = {programme.code, programme.version};
  context.host_country = "ID";
  context.origin_country = "BD";
  context.opened_at = *ParseInstant("2026-01-05T09:00:00Z");
  context.household = {{"m1", Relationship::kPrincipal, Sex::kFemale, 1992, {Vulnerability::kSingleParent}},
                       {"m2", Relationship::kDependant, Sex::kFemale, 2019, {}}};
  auto the_case = Case::Open(context);

  std::cout << "returnflow demo: one synthetic household (members m1, m2), host ID, origin BD\n\n"
            << DefinitionToMermaid(GetDefinition()) << "\n";

  struct Step {
    const char* actor;
    const char* when;
    Event event;
  };
  const auto day = [](const char* text) { return *ParseDate(text); };
  const std::vector<Step> steps = {
      {"caseworker:jakarta", "2026-01-05T10:00:00Z", ev::EligibilityReviewStarted{}},
      {"caseworker:jakarta", "2026-01-06T10:00:00Z", ev::EligibilityConfirmed{"BD"}},
      {"caseworker:jakarta", "2026-01-08T10:00:00Z", ev::ConsentRecorded{ConsentKind::kExplicit}},
      {"caseworker:jakarta", "2026-01-08T11:00:00Z", ev::CounsellingSessionHeld{}},
      {"caseworker:jakarta", "2026-01-12T10:00:00Z", ev::CounsellingSessionHeld{}},
      {"caseworker:jakarta", "2026-01-12T11:00:00Z", ev::ConsentRecorded{ConsentKind::kExplicit}},
      {"partner:embassy-bd", "2026-01-14T09:00:00Z", ev::TravelDocumentRequested{}},
      {"partner:immigration-id", "2026-01-15T09:00:00Z", ev::ExitClearanceRequested{}},
      {"partner:clinic", "2026-01-16T09:00:00Z", ev::FitnessCertified{day("2026-02-20"), false}},
      {"partner:embassy-bd", "2026-01-28T09:00:00Z", ev::TravelDocumentIssued{day("2026-04-30")}},
      {"partner:immigration-id", "2026-02-02T09:00:00Z", ev::ExitClearanceGranted{}},
      {"partner:travel-agent", "2026-02-03T09:00:00Z", ev::TravelBooked{day("2026-03-01"), "CGK-KUL-DAC"}},
      {"partner:clinic", "2026-02-10T09:00:00Z", ev::FitnessCertified{day("2026-03-31"), false}},
      {"partner:travel-agent", "2026-02-10T10:00:00Z", ev::TravelBooked{day("2026-03-01"), "CGK-KUL-DAC"}},
      {"caseworker:jakarta", "2026-02-27T09:00:00Z", ev::BriefingHeld{true}},
      {"partner:travel-agent", "2026-03-01T06:00:00Z", ev::NoShow{}},
      {"partner:travel-agent", "2026-03-02T09:00:00Z", ev::TravelBooked{day("2026-03-08"), "CGK-KUL-DAC"}},
      {"caseworker:jakarta", "2026-03-06T09:00:00Z", ev::BriefingHeld{true}},
      {"partner:travel-agent", "2026-03-08T06:00:00Z", ev::Departed{}},
      {"caseworker:jakarta", "2026-03-08T07:00:00Z", ev::ConsentWithdrawn{}},
      {"partner:reception-dhaka", "2026-03-08T18:00:00Z", ev::Arrived{}},
      {"caseworker:dhaka", "2026-03-20T09:00:00Z", ev::PlanSubmitted{3}},
      {"caseworker:dhaka", "2026-03-22T09:00:00Z", ev::PlanApproved{}},
      {"partner:reintegration-ngo", "2026-03-25T09:00:00Z", ev::AssistanceDelivered{AssistanceKind::kCashOnArrival}},
      {"partner:reintegration-ngo", "2026-04-15T09:00:00Z", ev::AssistanceDelivered{AssistanceKind::kBusinessStartUp}},
      {"caseworker:dhaka", "2026-06-08T09:00:00Z", ev::CaseClosed{Outcome::kReintegrated}},
      {"partner:reintegration-ngo", "2026-06-08T10:00:00Z", ev::MonitoringVisitCompleted{0.6, 0.7, 0.8}},
      {"partner:reintegration-ngo", "2026-09-08T10:00:00Z", ev::MonitoringVisitCompleted{0.7, 0.7, 0.8}},
      {"partner:reintegration-ngo", "2027-03-08T10:00:00Z", ev::MonitoringVisitCompleted{0.8, 0.8, 0.9}},
      {"caseworker:dhaka", "2027-03-09T09:00:00Z", ev::CaseClosed{Outcome::kReintegrated}},
  };
  for (const auto& step : steps) {
    const auto result = the_case.Apply(step.event, EventMeta{step.actor, *ParseInstant(step.when), &programme, nullptr});
    std::cout << fmt::format("{}  {:<26} {:<36} ", step.when, step.actor, EventName(step.event));
    if (result.Applied()) {
      std::cout << fmt::format("applied  {} -> {}", fmt::join(result.from, ", "), fmt::join(result.to, ", "));
      if (!result.changes.empty()) std::cout << fmt::format("  ({})", fmt::join(result.changes, "; "));
    } else {
      std::cout << fmt::format("{}: {}", Name(result.verdict), result.reason);
    }
    std::cout << "\n";
  }
  std::cout << fmt::format("\nfinal stage: {}, outcome: {}\nsaved state: {} bytes of JSON\n", the_case.Stage(),
                           Name(*the_case.Context().outcome), the_case.Save().size());
}

}  // namespace

void AddWorkflowCommands(CLI::App& app) {
  auto* workflow = app.add_subcommand("workflow", "Export the case workflow definition (states, events, transitions, guards)");
  auto format = std::make_shared<std::string>("mermaid");
  workflow->add_option("--format", *format, "Output format")->check(CLI::IsMember({"mermaid", "dot", "json", "reasons"}));
  workflow->callback([format] { ExportWorkflow(*format); });

  auto* demo = app.add_subcommand("demo", "Walk a synthetic case through its lifecycle, printing each transition");
  demo->callback([] { RunDemo(); });
}

}  // namespace returnflow::cli
