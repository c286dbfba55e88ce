// VerifyChains: every case's hash chain, every checkpoint's signature, the newest checkpoint's digest.
//
// The tables are read in ranges of case ids (up to 1000 cases each, in id order): the range's
// case rows first, then its history rows in pages and its checkpoint entries. A case row is read before
// its history, and history is only appended, so on a live database every row up to the case's last
// sequence as read is there; rows appended since are checked for their links but not against the head.
#include <fmt/format.h>
#include <soci/soci.h>
#include <spdlog/spdlog.h>

#include <limits>
#include <map>

#include "persistence/case_rows.hpp"
#include "persistence/checkpoints.hpp"
#include "persistence/internal.hpp"

namespace returnflow::persistence {

namespace {

using internal::Query;

// Tests shrink these (VerifyPageSizesForTesting) so that every paging boundary is crossed with a few rows.
long long g_cases_per_range = 1000;
long long g_rows_per_page = 5000;

constexpr Query kCasesAfter{"verify chain cases",
                            "SELECT case_id, last_sequence, head_hash FROM cases WHERE case_id > :after "
                            "ORDER BY case_id LIMIT :limit"};
// History rows after (:case_id, :sequence) up to case id :last, in (case id, sequence) order.
constexpr Query kRowsUpTo{"verify chain rows",
                          "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE (case_id, sequence) > "
                          "(:case_id, :sequence) AND case_id <= :last ORDER BY case_id, sequence LIMIT :limit"};
constexpr Query kRowsAfter{"verify chain rows",
                           "SELECT " RETURNFLOW_HISTORY_COLUMNS " FROM case_events WHERE (case_id, sequence) > "
                           "(:case_id, :sequence) ORDER BY case_id, sequence LIMIT :limit"};
constexpr Query kEntriesUpTo{"verify chain entries",
                             "SELECT case_id, sequence, head, checkpoint_id FROM checkpoint_heads WHERE case_id > :after "
                             "AND case_id <= :last ORDER BY case_id, sequence"};
constexpr Query kEntriesAfter{"verify chain entries",
                              "SELECT case_id, sequence, head, checkpoint_id FROM checkpoint_heads WHERE case_id > :after "
                              "ORDER BY case_id, sequence"};
constexpr Query kCaseExists{"verify chain case", "SELECT 1 AS found FROM cases WHERE case_id = :case_id"};
constexpr Query kCheckpoints{"verify checkpoints",
                             "SELECT checkpoint_id, created_at, case_count, digest, previous_digest, signature, key_id, "
                             "public_key FROM checkpoints ORDER BY checkpoint_id"};

struct CaseHead {
  long long last_sequence = 0;
  std::string head;
};

struct Entry {
  long long sequence = 0;
  std::string head;
  long long checkpoint_id = 0;
};

class ChainChecker {
 public:
  ChainChecker(Database& database, const ChainVerifyOptions& options) : database_(database), options_(options) {}

  ChainReport Run() {
    ReadCheckpoints();
    std::string after;
    for (;;) {
      std::map<std::string, CaseHead> cases;
      database_.Read("verify chain", [&](soci::session& sql) {
        cases.clear();
        internal::ForEachRow(sql, kCasesAfter, [&](const soci::row& columns) {
          cases[internal::Text(columns, "case_id")] = {internal::Integer(columns, "last_sequence"),
                                                       internal::Text(columns, "head_hash")};
        }, soci::use(after, "after"), soci::use(g_cases_per_range, "limit"));
      });
      const bool last_range = static_cast<long long>(cases.size()) < g_cases_per_range;
      const std::optional<std::string> upto = last_range ? std::nullopt : std::optional(cases.rbegin()->first);
      CheckRange(after, upto, cases);
      if (last_range) break;
      after = *upto;
    }
    FinishCheckpoints();
    return std::move(report_);
  }

 private:
  void Problem(std::string case_id, long long sequence, std::string detail) {
    spdlog::warn("verify chain case={} sequence={}: {}", case_id.empty() ? "-" : case_id, sequence, detail);
    report_.problems.push_back({std::move(case_id), sequence, std::move(detail)});
  }

  void ReadCheckpoints() {
    database_.Read("verify checkpoints", [&](soci::session& sql) {
      checkpoints_.clear();
      internal::ForEachRow(sql, kCheckpoints, [&](const soci::row& columns) {
        checkpoints_.push_back(internal::ReadCheckpoint(columns));
      });
    });
    report_.key_source = options_.public_key ? TrustedKeySource::kGiven : TrustedKeySource::kStored;
    if (!checkpoints_.empty()) report_.latest_checkpoint = checkpoints_.back().id;
  }

  void FinishCheckpoints() {
    std::string previous_digest(kGenesisHash);
    long long expected_id = 1;
    for (const auto& checkpoint : checkpoints_) {
      ++report_.checkpoints_checked;
      const auto name = fmt::format("checkpoint {}", checkpoint.id);
      if (checkpoint.id != expected_id) {
        Problem("", 0, fmt::format("{} is where checkpoint {} should be: a checkpoint is missing", name, expected_id));
      } else if (checkpoint.previous_digest != previous_digest) {
        Problem("", 0, fmt::format("{} does not link to the checkpoint before it (previous digest differs)", name));
      }
      const std::string& key = options_.public_key ? *options_.public_key : checkpoint.public_key;
      if (checkpoint.key_id != KeyIdOf(key)) {
        Problem("", 0, fmt::format("{} names key {}, not the key it is checked with ({})", name, checkpoint.key_id,
                                   KeyIdOf(key)));
      } else if (!VerifySignature(key, checkpoint.Statement(), checkpoint.signature)) {
        Problem("", 0, fmt::format("{}: the signature does not verify", name));
      }
      previous_digest = checkpoint.digest;
      expected_id = checkpoint.id + 1;
    }
    if (checkpoints_.empty()) return;
    const auto& latest = checkpoints_.back();
    const auto digest = latest_digest_.HexDigest();
    if (digest != latest.digest || latest_count_ != latest.case_count) {
      Problem("", 0,
              fmt::format("checkpoint {}: what it covers no longer matches its digest ({} cases now, {} signed): its "
                          "entries were altered",
                          latest.id, latest_count_, latest.case_count));
    }
  }

  /// Checks every case with an id in (after, upto] (unbounded above without `upto`).
  void CheckRange(const std::string& after, const std::optional<std::string>& upto,
                  const std::map<std::string, CaseHead>& cases) {
    std::map<std::string, std::vector<Entry>> entries;
    database_.Read("verify chain", [&](soci::session& sql) {
      entries.clear();
      const auto each = [&](const soci::row& columns) {
        entries[internal::Text(columns, "case_id")].push_back({internal::Integer(columns, "sequence"),
                                                               internal::Text(columns, "head"),
                                                               internal::Integer(columns, "checkpoint_id")});
      };
      if (upto) {
        internal::ForEachRow(sql, kEntriesUpTo, each, soci::use(after, "after"), soci::use(*upto, "last"));
      } else {
        internal::ForEachRow(sql, kEntriesAfter, each, soci::use(after, "after"));
      }
    });

    std::map<std::string, bool> done;
    std::string cursor_case = after;
    long long cursor_sequence = std::numeric_limits<long long>::max();
    std::string current;
    std::vector<internal::HistoryRow> rows;
    const auto flush = [&] {
      if (current.empty()) return;
      CheckCase(current, rows, cases, entries);
      done[current] = true;
      rows.clear();
    };
    for (;;) {
      std::vector<internal::HistoryRow> page;
      database_.Read("verify chain", [&](soci::session& sql) {
        page.clear();
        const auto each = [&](const soci::row& columns) {
          internal::HistoryRow row;
          internal::ReadHistoryRow(columns, row);
          page.push_back(std::move(row));
        };
        if (upto) {
          internal::ForEachRow(sql, kRowsUpTo, each, soci::use(cursor_case, "case_id"),
                               soci::use(cursor_sequence, "sequence"), soci::use(*upto, "last"),
                               soci::use(g_rows_per_page, "limit"));
        } else {
          internal::ForEachRow(sql, kRowsAfter, each, soci::use(cursor_case, "case_id"),
                               soci::use(cursor_sequence, "sequence"), soci::use(g_rows_per_page, "limit"));
        }
      });
      const bool last_page = static_cast<long long>(page.size()) < g_rows_per_page;
      if (!page.empty()) {
        cursor_case = page.back().case_id;
        cursor_sequence = page.back().sequence;
      }
      for (auto& row : page) {
        if (row.case_id != current) {
          flush();
          current = row.case_id;
        }
        rows.push_back(std::move(row));
      }
      if (last_page) break;
    }
    flush();
    // Cases with no history row at all, and covered cases with neither rows nor a case row.
    for (const auto& [case_id, head] : cases) {
      if (!done.contains(case_id)) {
        CheckCase(case_id, {}, cases, entries);
        done[case_id] = true;
      }
    }
    for (const auto& [case_id, covered] : entries) {
      if (!done.contains(case_id)) CheckCase(case_id, {}, cases, entries);
    }
    // The newest checkpoint's digest, over what it covers in ascending case id order.
    if (!checkpoints_.empty()) {
      const long long latest = checkpoints_.back().id;
      for (const auto& [case_id, covered] : entries) {
        const Entry* newest = nullptr;
        for (const auto& entry : covered) {
          if (entry.checkpoint_id <= latest && (!newest || entry.sequence > newest->sequence)) newest = &entry;
        }
        if (!newest) continue;
        latest_digest_.Field(case_id).Field(newest->sequence).Field(newest->head);
        ++latest_count_;
      }
    }
  }

  void CheckCase(const std::string& case_id, const std::vector<internal::HistoryRow>& rows,
                 const std::map<std::string, CaseHead>& cases, const std::map<std::string, std::vector<Entry>>& entries) {
    ++report_.cases_checked;
    report_.rows_checked += static_cast<std::int64_t>(rows.size());
    const auto found = cases.find(case_id);
    if (found == cases.end()) {
      // On a live database a case created after its range's case rows were read: checked next time.
      if (CaseExistsNow(case_id)) return;
      Problem(case_id, 0, "the case row is missing (its history or a checkpoint still names it)");
      return;
    }
    const auto& head = found->second;
    const auto covered = entries.find(case_id);
    const long long latest_checkpoint = report_.latest_checkpoint.value_or(0);
    std::map<long long, std::string> hashes;  // sequence -> hash, for the sequences a checkpoint covers
    if (covered != entries.end()) {
      for (const auto& entry : covered->second) hashes[entry.sequence];
    }

    std::string previous(kGenesisHash);
    std::string head_at_last;
    long long expected = 1;
    for (const auto& row : rows) {
      if (row.sequence != expected) {
        Problem(case_id, expected, fmt::format("row {} is missing", expected));
        return;
      }
      if (row.hash.empty()) {
        Problem(case_id, row.sequence, "the row is not chained (written with history.hash_chain = false)");
        return;
      }
      if (row.prev_hash != previous) {
        Problem(case_id, row.sequence, "the row's previous hash does not match the row before it");
        return;
      }
      const auto computed = HistoryRowHash(row);
      if (computed != row.hash) {
        Problem(case_id, row.sequence, "the row was altered: its content no longer matches its hash");
        return;
      }
      previous = computed;
      if (row.sequence == head.last_sequence) head_at_last = computed;
      const auto wanted = hashes.find(row.sequence);
      if (wanted != hashes.end()) wanted->second = computed;
      ++expected;
    }
    if (expected - 1 < head.last_sequence) {
      Problem(case_id, expected, fmt::format("row {} is missing (the case's last sequence is {})", expected,
                                             head.last_sequence));
      return;
    }
    if (head_at_last != head.head) {
      Problem(case_id, head.last_sequence, "head mismatch: the case's head is not the hash of its last row");
      return;
    }
    if (covered == entries.end()) return;
    for (const auto& entry : covered->second) {
      if (entry.checkpoint_id > latest_checkpoint) continue;  // a checkpoint made after verify started
      if (entry.sequence >= expected) {
        Problem(case_id, entry.sequence,
                fmt::format("row {} is missing: checkpoint {} covers it", entry.sequence, entry.checkpoint_id));
        return;
      }
      if (hashes[entry.sequence] != entry.head) {
        Problem(case_id, entry.sequence,
                fmt::format("checkpoint {} signed another head at this sequence: the history was rewritten after it",
                            entry.checkpoint_id));
        return;
      }
    }
  }

  bool CaseExistsNow(const std::string& case_id) {
    bool exists = false;
    database_.Read("verify chain", [&](soci::session& sql) {
      exists = false;
      internal::ForEachRow(sql, kCaseExists, [&](const soci::row&) { exists = true; }, soci::use(case_id, "case_id"));
    });
    return exists;
  }

  Database& database_;
  const ChainVerifyOptions& options_;
  ChainReport report_;
  std::vector<Checkpoint> checkpoints_;
  CanonicalHasher latest_digest_{"returnflow.checkpoint-heads.v1"};
  long long latest_count_ = 0;
};

}  // namespace

void SetVerifyPageSizesForTesting(long long cases_per_range, long long rows_per_page) {
  g_cases_per_range = cases_per_range;
  g_rows_per_page = rows_per_page;
}

ChainReport VerifyChains(Database& database, const ChainVerifyOptions& options) {
  return ChainChecker(database, options).Run();
}

}  // namespace returnflow::persistence
