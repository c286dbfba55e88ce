#pragma once
/// Encryption at rest of personal data (the `people` table): each household member's row is sealed with
/// AES-256-GCM (OpenSSL EVP) under the member's own random data key, and that key is stored in
/// `data_keys` wrapped (AES-256-GCM) under a master key that never enters the database. Erasing a member
/// destroys their data key; a copy of the database without the master key reveals no personal data.
///
/// Associated data binds each ciphertext to where it belongs: a person's ciphertext to (case id, member
/// id, "people.sealed"), a wrapped key to (case id, member id, master key id), so rows cannot be swapped
/// between members or cases unnoticed.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace returnflow::persistence {

/// Standard base64 with padding (OpenSSL's EVP block encoding), and back; nullopt for text that is not.
std::string Base64(const unsigned char* bytes, std::size_t size);
std::optional<std::string> DecodeBase64(std::string_view text);

/// The master keys this process can use, by id: the first is current (new data keys are wrapped under
/// it), the others are kept readable until `returnflow keys rotate` has moved every data key off them.
///
/// Key file format: one key per line, `id:KEY`, newest (current) first; KEY is 32 bytes in base64 or
/// hex; blank lines and `#` comments are ignored. A line with only KEY gets the id "k" + the first 12 hex
/// digits of SHA-256 over the key. RETURNFLOW_MASTER_KEY holds one such line (or several, ';'-separated).
class MasterKeyring {
 public:
  struct Key {
    std::string id;
    std::array<unsigned char, 32> bytes{};
  };

  /// kInvalidInput when the text holds no key, a malformed line, a key that is not 32 bytes or an id twice.
  static MasterKeyring Parse(std::string_view text, std::string_view origin);
  /// kInvalidInput when the file cannot be read or does not parse.
  static MasterKeyring Load(const std::string& path);
  /// Reads `path`, or creates it (owner-only, 0600) with one fresh key when there is no file.
  static MasterKeyring LoadOrCreate(const std::string& path, bool* created = nullptr);
  /// One fresh random key (tests, `returnflow keys add`).
  static Key GenerateKey();
  /// A keyring of `keys`, the first current; kInvalidInput when empty or an id is there twice.
  static MasterKeyring FromKeys(std::vector<Key> keys);

  const Key& Current() const { return keys_.front(); }
  /// The key of `id`, or nullptr.
  const Key* Find(std::string_view id) const;
  const std::vector<Key>& Keys() const { return keys_; }
  /// This keyring with `key` in front (current), as key file text.
  std::string WithNewCurrent(const Key& key) const;
  /// The key file text (`id:base64` lines).
  std::string Serialise() const;
  /// Replaces the key file at `path` with `text` atomically (a 0600 temporary file beside it, synced,
  /// renamed over it): a reader sees the old file or the new one, never half of one.
  static void Store(const std::string& path, const std::string& text);

 private:
  std::vector<Key> keys_;
};

/// The base64 text of a person's sealed row, and of its wrapped data key.
struct SealedPerson {
  std::string sealed;       ///< base64(nonce || ciphertext || tag) of the person's JSON
  std::string key_id;       ///< the master key that wraps the data key
  std::string wrapped_key;  ///< base64(nonce || wrapped data key || tag)
};

/// Seals `plaintext` (one person's JSON) under a fresh data key wrapped by the keyring's current key.
SealedPerson SealPerson(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                        std::string_view plaintext);
/// Opens a sealed person. kCorruptData when the master key id is not in the keyring or the wrapped key or
/// the ciphertext does not authenticate (a wrong master key, a swapped or altered row): never garbage.
std::string OpenPerson(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                       const SealedPerson& sealed);
/// The same data key wrapped under `to` (rotation); kCorruptData as OpenPerson when it cannot be unwrapped.
std::string RewrapDataKey(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                          std::string_view key_id, std::string_view wrapped_key, const MasterKeyring::Key& to);

}  // namespace returnflow::persistence
