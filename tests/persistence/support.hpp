#pragma once
// Test support for the persistence tests: a fresh database per test on SQLite (a temporary file) or
// PostgreSQL (a fresh schema in the server named by RETURNFLOW_TEST_PG_URL), and synthetic cases.
#include <memory>
#include <string>
#include <vector>

#include "persistence/personal_data_crypto.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence::testing {

std::string BackendName(Backend backend);

/// A migrated database that belongs to one test and is removed afterwards.
/// The master keys of this test process: a fresh current key and an older one.
std::shared_ptr<const MasterKeyring> TestMasterKeys();

class TestDatabase {
 public:
  explicit TestDatabase(Backend backend, std::size_t pool_size = 4, bool migrate = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  Database& Db() { return *database_; }
  const std::string& Url() const { return url_; }
  DatabaseOptions Options() const;
  /// Opens another Database on the same storage (another "process" view, other pool).
  std::unique_ptr<Database> OpenAnother(std::size_t pool_size = 2) const;
  /// Runs one SQL statement outside the repositories (for tampering and inspection).
  void Execute(const std::string& sql);
  long long QueryNumber(const std::string& sql);

 private:
  Backend backend_;
  std::string url_;
  std::string directory_;  // SQLite
  std::string schema_;     // PostgreSQL
  std::unique_ptr<Database> database_;
};

/// The programme every TestDatabase registers ("avrr-test": XX is unsafe; otherwise the defaults).
workflow::Programme TestProgramme();

/// A synthetic adult case (no real people: "Test Person 1").
NewCase SyntheticCase(std::string office = "office-jakarta", std::vector<std::string> partners = {"embassy-bd"});

/// An incoming event decoded from its CloudEvents data with the workflow's own decoder.
IncomingEvent MakeEvent(const std::string& type, const std::string& data_json, const std::string& event_id,
                        const std::string& source = "caseworker-system", int hour = 1);

/// Events that take a new case to counselling.in_progress (each applied once).
std::vector<IncomingEvent> ToCounsellingEvents(const std::string& prefix);

}  // namespace returnflow::persistence::testing
