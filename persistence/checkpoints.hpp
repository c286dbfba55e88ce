#pragma once
/// Signed checkpoints over every case's history head, and the verification of every chain against them
/// (the encodings are in history_chain.hpp).
///
/// What a checkpoint proves: that at `created_at` each case it covers had its history up to a sequence
/// with a given head. The heads move on afterwards, so each (case, sequence, head) it covers is stored
/// (`checkpoint_heads`, once per head: a case that did not change is not stored again) and `verify`
/// recomputes that row's hash from the chain as it is now. A history rewritten consistently after a
/// checkpoint (rows edited, every later hash and the head recomputed) passes the chain check and fails
/// here; to forge the checkpoint too needs the signing key. The newest checkpoint deleted outright cannot
/// be seen from inside the database: keep the digest a checkpoint returns somewhere else when that
/// matters (its `previous_digest` makes deleting any older one visible).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/database.hpp"
#include "persistence/history_chain.hpp"

namespace returnflow::persistence {

/// One signed checkpoint, as stored.
struct Checkpoint {
  std::int64_t id = 0;  ///< 1, 2, ... in creation order
  Timestamp created_at{};
  std::int64_t case_count = 0;  ///< cases covered
  std::string digest;           ///< over the covered (case id, sequence, head) list, hex
  std::string previous_digest;  ///< the previous checkpoint's digest (kGenesisHash for the first)
  std::string signature;        ///< Ed25519 over Statement(), hex
  std::string key_id;
  std::string public_key;  ///< raw Ed25519 public key, hex

  /// The bytes that are signed (history_chain.hpp: "returnflow.checkpoint.v1" ...).
  std::string Statement() const;
};

class CheckpointRepository {
 public:
  explicit CheckpointRepository(Database& database) : database_(database) {}

  /// Covers every case's current head, signs the result with `key` and stores it, in one transaction
  /// (PostgreSQL: REPEATABLE READ, so every head comes from one snapshot; SQLite: the write lock).
  /// A checkpoint made by another process at the same moment takes the id first; this one follows it
  /// (kConflict only after several such races in a row).
  Checkpoint Create(const SigningKey& key);
  std::optional<Checkpoint> Latest();

 private:
  Checkpoint CreateOnce(const SigningKey& key);
  Database& database_;
};

/// Where the public key that checks checkpoint signatures came from.
enum class TrustedKeySource {
  kGiven,    ///< `verify --public-key FILE`, or the configured signing key: independent of the database
  kStored,   ///< the key stored with each checkpoint: proves nothing against someone who can write it
};

struct ChainVerifyOptions {
  /// Raw Ed25519 public key, hex; unset: each checkpoint's stored key.
  std::optional<std::string> public_key;
};

/// One problem found; pseudonymous (case id and sequence, never a payload).
struct ChainProblem {
  std::string case_id;       ///< empty for a checkpoint's own problem
  std::int64_t sequence = 0; ///< the first altered or missing row (0: the case as a whole)
  std::string detail;
};

struct ChainReport {
  std::int64_t cases_checked = 0;
  std::int64_t rows_checked = 0;
  std::int64_t checkpoints_checked = 0;
  std::optional<std::int64_t> latest_checkpoint;
  TrustedKeySource key_source = TrustedKeySource::kStored;
  std::vector<ChainProblem> problems;
  bool Ok() const { return problems.empty(); }
};

/// Checks every case's chain (each row's hash over its content, each prev_hash against the row before,
/// no sequence missing, the case's head and last sequence), every checkpoint's signature and its link to
/// the one before, the newest checkpoint's digest and case count recomputed from what it covers, and every
/// covered (case, sequence, head) against the chain as it is now. Reads the tables in pages, in case-id
/// order; one problem per case (the first), every checkpoint problem.
ChainReport VerifyChains(Database& database, const ChainVerifyOptions& options = {});
/// Page sizes of VerifyChains (defaults 1000 cases per range, 5000 rows per page); for tests, so that every
/// paging boundary is crossed with a handful of rows.
void SetVerifyPageSizesForTesting(long long cases_per_range, long long rows_per_page);

}  // namespace returnflow::persistence
