#pragma once
/// The tamper-evident history: every `case_events` row carries a SHA-256 hash over its canonical content
/// and the hash of the case's previous row (`prev_hash`), and the case row holds the newest one
/// (`cases.head_hash`). Checkpoints sign every case's head with Ed25519 (OpenSSL EVP).
///
/// The canonical encoding of a row (version 1), hashed with SHA-256, hex in lower case:
///
///   "returnflow.history.v1" then, for each field in this order, its length in bytes as 8 bytes
///   big-endian followed by its bytes:
///     case_id, sequence, source, event_id, type, actor, occurred_at, recorded_at, payload,
///     request_hash, verdict, reason, states_before, states_after, changes, allowed_events,
///     version_after, prev_hash
///   Integers are written as their shortest decimal text ("-12", "0", "1700000000000000"). Text fields
///   are the column's bytes as stored. The first row of a case has prev_hash kGenesisHash.
///
/// Every column of the row is covered, so changing any of them, or moving a row to another case or
/// sequence, changes its hash; the length prefixes make the encoding unambiguous (no two different rows
/// encode alike, whatever bytes their fields hold).
///
/// A checkpoint's digest (version 1) is SHA-256 over "returnflow.checkpoint-heads.v1" followed by, for
/// each case it covers in ascending byte order of case id, the case id, its last sequence and its head,
/// each length-prefixed as above. What is signed is the checkpoint's statement (CheckpointStatement):
/// "returnflow.checkpoint.v1" followed by id, created_at, case_count, digest, previous_digest and key id,
/// each length-prefixed. The previous checkpoint's digest makes the checkpoints a chain of their own.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace returnflow::persistence {

namespace internal {
struct HistoryRow;
}  // namespace internal

/// The `prev_hash` of a case's first row: 64 zeros.
inline constexpr std::string_view kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

/// Builds a length-prefixed canonical encoding (see the top of this file) and hashes it.
class CanonicalHasher {
 public:
  explicit CanonicalHasher(std::string_view domain);
  ~CanonicalHasher();
  CanonicalHasher(const CanonicalHasher&) = delete;
  CanonicalHasher& operator=(const CanonicalHasher&) = delete;
  CanonicalHasher& Field(std::string_view bytes);
  CanonicalHasher& Field(long long number);
  /// The SHA-256 of everything added, lower-case hex. Call once.
  std::string HexDigest();

 private:
  void Update(const void* data, std::size_t size);
  void* context_;  // EVP_MD_CTX*
};

/// The hash of one history row (its prev_hash included), as defined at the top of this file.
std::string HistoryRowHash(const internal::HistoryRow& row);

/// Links `row` to the chain whose newest hash is `head`: sets its prev_hash and hash, and moves `head`
/// to the row. With `enabled` false (history.hash_chain = false, for benchmarks) the row is left
/// unchained (empty hash and prev_hash) and `head` stays where it is; `verify` reports such rows.
void ChainRow(std::string& head, internal::HistoryRow& row, bool enabled = true);

/// An Ed25519 key pair for signing checkpoints (OpenSSL EVP_PKEY_ED25519), read from a PEM file
/// (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it).
class SigningKey {
 public:
  /// Reads the key in `path`; kInvalidInput when it cannot be read or is not an Ed25519 private key.
  static SigningKey Load(const std::string& path);
  /// Reads the key in `path`, or creates one there (owner-only permissions, 0600) when there is no
  /// file. `created`, when given, tells which happened.
  static SigningKey LoadOrCreate(const std::string& path, bool* created = nullptr);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  /// The Ed25519 signature of `message`, lower-case hex (128 characters).
  std::string Sign(std::string_view message) const;
  /// The raw 32-byte public key, lower-case hex.
  const std::string& PublicKeyHex() const { return public_hex_; }
  /// The public key as PEM (SubjectPublicKeyInfo), what `verify --public-key` reads.
  std::string PublicKeyPem() const;
  /// The key id: the first 16 hex digits of SHA-256 over the raw public key.
  std::string KeyId() const;

 private:
  explicit SigningKey(void* key);
  void* key_;  // EVP_PKEY*
  std::string public_hex_;
};

/// The key id of a raw public key given in hex (see SigningKey::KeyId).
std::string KeyIdOf(std::string_view public_key_hex);
/// The raw public key (hex) of a PEM public key file; kInvalidInput when it is not an Ed25519 key.
std::string ReadPublicKeyFile(const std::string& path);
/// True when `signature_hex` is the Ed25519 signature of `message` under the raw public key (hex).
bool VerifySignature(std::string_view public_key_hex, std::string_view message, std::string_view signature_hex);

}  // namespace returnflow::persistence
