#include "persistence/personal_data_crypto.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "persistence/database.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {
namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kKeySize = 32;
constexpr std::string_view kSealedColumn = "people.sealed";

[[noreturn]] void Fail(ErrorKind kind, const std::string& message) { throw PersistenceError(kind, message); }

std::optional<std::string> DecodeHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  std::string bytes;
  for (std::size_t index = 0; index < hex.size(); index += 2) {
    const int high = nibble(hex[index]);
    const int low = nibble(hex[index + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

/// Associated data: a domain and each field, length-prefixed (no field can run into the next).
std::string AssociatedData(std::string_view domain, std::initializer_list<std::string_view> fields) {
  std::string aad(domain);
  for (const auto field : fields) {
    aad += std::to_string(field.size());
    aad += ':';
    aad += field;
  }
  return aad;
}

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

/// AES-256-GCM: nonce || ciphertext || tag, with a fresh random nonce.
std::string Seal(const unsigned char* key, std::string_view plaintext, std::string_view aad) {
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  CipherContext context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int length = 0;
  const bool ok =
      context && RAND_bytes(bytes, kNonceSize) == 1 &&
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key, bytes) == 1 &&
      EVP_EncryptUpdate(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(context.get(), bytes + kNonceSize, &length,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(context.get(), bytes + kNonceSize + length, &length) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, bytes + kNonceSize + plaintext.size()) == 1;
  if (!ok) Fail(ErrorKind::kInternal, "personal data: internal (encryption failed)");
  return out;
}

/// The plaintext of Seal's output, or nullopt when it does not authenticate under `key` and `aad`.
std::optional<std::string> Open(const unsigned char* key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kNonceSize + kTagSize) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  const std::size_t size = sealed.size() - kNonceSize - kTagSize;
  std::string out(size, '\0');
  CipherContext context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int length = 0;
  std::array<unsigned char, kTagSize> tag{};
  std::copy(bytes + kNonceSize + size, bytes + sealed.size(), tag.begin());
  const bool ok =
      context && EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key, bytes) == 1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), reinterpret_cast<unsigned char*>(out.data()), &length, bytes + kNonceSize,
                        static_cast<int>(size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(context.get(), reinterpret_cast<unsigned char*>(out.data()) + length, &length) == 1;
  if (!ok) return std::nullopt;
  return out;
}

std::string WrapAad(std::string_view case_id, std::string_view member_id, std::string_view key_id) {
  return AssociatedData("returnflow.data-key.v1", {case_id, member_id, key_id});
}

/// The data key of a member, unwrapped; kCorruptData when it cannot be.
std::string UnwrapDataKey(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                          std::string_view key_id, std::string_view wrapped_key) {
  const auto* master = keys.Find(key_id);
  if (master == nullptr) {
    Fail(ErrorKind::kCorruptData, fmt::format("personal data case={}: corrupt_data (its data key is wrapped under master "
                                              "key {}, which is not configured)", case_id, key_id));
  }
  const auto wrapped = DecodeBase64(wrapped_key);
  auto data_key = wrapped ? Open(master->bytes.data(), *wrapped, WrapAad(case_id, member_id, key_id)) : std::nullopt;
  if (!data_key || data_key->size() != kKeySize) {
    Fail(ErrorKind::kCorruptData, fmt::format("personal data case={}: corrupt_data (master key {} does not open its data "
                                              "key: a wrong key file, or an altered row)", case_id, key_id));
  }
  return *data_key;
}

MasterKeyring::Key ParseLine(std::string_view line, std::string_view origin) {
  const auto invalid = [&](std::string_view why) {
    return PersistenceError(ErrorKind::kInvalidInput, fmt::format("master key ({}): invalid_input ({})", origin, why));
  };
  MasterKeyring::Key key;
  std::string_view encoded = line;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    key.id = std::string(Trim(line.substr(0, colon)));
    encoded = Trim(line.substr(colon + 1));
    if (key.id.empty() || key.id.size() > 64 ||
        key.id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != std::string::npos) {
      throw invalid("a key id is 1 to 64 letters, digits, '-', '_' or '.'");
    }
  }
  auto bytes = encoded.size() == 2 * kKeySize ? DecodeHex(encoded) : DecodeBase64(encoded);
  if (!bytes || bytes->size() != kKeySize) throw invalid("a key is 32 bytes in base64 or hex");
  std::copy(bytes->begin(), bytes->end(), key.bytes.begin());
  if (key.id.empty()) key.id = "k" + Sha256Hex(*bytes).substr(0, 12);
  return key;
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) Fail(ErrorKind::kInvalidInput, "master key: invalid_input (cannot read the key file)");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

std::string Base64(const unsigned char* bytes, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding's zero bytes too.
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<std::size_t>(length) - padding);
  return out;
}


MasterKeyring MasterKeyring::Parse(std::string_view text, std::string_view origin) {
  MasterKeyring ring;
  while (!text.empty()) {
    const auto end = text.find_first_of("\n;");
    const auto line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    auto key = ParseLine(line, origin);
    if (ring.Find(key.id)) {
      Fail(ErrorKind::kInvalidInput, fmt::format("master key ({}): invalid_input (key id {} twice)", origin, key.id));
    }
    ring.keys_.push_back(std::move(key));
  }
  if (ring.keys_.empty()) Fail(ErrorKind::kInvalidInput, fmt::format("master key ({}): invalid_input (no key)", origin));
  return ring;
}

MasterKeyring MasterKeyring::FromKeys(std::vector<Key> keys) {
  MasterKeyring ring;
  for (auto& key : keys) {
    if (ring.Find(key.id)) Fail(ErrorKind::kInvalidInput, fmt::format("master key: invalid_input (key id {} twice)", key.id));
    ring.keys_.push_back(std::move(key));
  }
  if (ring.keys_.empty()) Fail(ErrorKind::kInvalidInput, "master key: invalid_input (no key)");
  return ring;
}

MasterKeyring MasterKeyring::Load(const std::string& path) { return Parse(ReadKeyFile(path), "key file"); }

MasterKeyring::Key MasterKeyring::GenerateKey() {
  Key key;
  if (RAND_bytes(key.bytes.data(), kKeySize) != 1) Fail(ErrorKind::kInternal, "master key: internal (no randomness)");
  key.id = "k" + Sha256Hex(std::string_view(reinterpret_cast<const char*>(key.bytes.data()), kKeySize)).substr(0, 12);
  return key;
}

MasterKeyring MasterKeyring::LoadOrCreate(const std::string& path, bool* created) {
  if (created) *created = false;
  struct stat status {};
  if (::stat(path.c_str(), &status) == 0) return Load(path);
  MasterKeyring ring;
  ring.keys_.push_back(GenerateKey());
  const auto text = ring.Serialise();
  // O_EXCL: of two processes creating the key at once, one writes it and the other reads that one.
  const int descriptor = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    if (errno == EEXIST) return Load(path);
    Fail(ErrorKind::kUnavailable, "master key: unavailable (cannot create the key file)");
  }
  const bool written = ::write(descriptor, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(descriptor) == 0;
  ::close(descriptor);
  if (!written) {
    ::unlink(path.c_str());
    Fail(ErrorKind::kUnavailable, "master key: unavailable (cannot write the key file)");
  }
  if (created) *created = true;
  return ring;
}

void MasterKeyring::Store(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  ::unlink(temporary.c_str());
  const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (descriptor < 0) Fail(ErrorKind::kUnavailable, "master key: unavailable (cannot create the new key file)");
  const bool written = ::write(descriptor, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(descriptor) == 0;
  ::close(descriptor);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    Fail(ErrorKind::kUnavailable, "master key: unavailable (cannot write the new key file)");
  }
}

const MasterKeyring::Key* MasterKeyring::Find(std::string_view id) const {
  for (const auto& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

std::string MasterKeyring::Serialise() const {
  std::string text = "# returnflow master keys: id:base64, current first (see README, \"Encryption at rest\")\n";
  for (const auto& key : keys_) text += key.id + ":" + Base64(key.bytes.data(), key.bytes.size()) + "\n";
  return text;
}

std::string MasterKeyring::WithNewCurrent(const Key& key) const {
  std::vector<Key> keys{key};
  for (const auto& old : keys_) {
    if (old.id != key.id) keys.push_back(old);
  }
  return FromKeys(std::move(keys)).Serialise();
}

SealedPerson SealPerson(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                        std::string_view plaintext) {
  std::array<unsigned char, kKeySize> data_key{};
  if (RAND_bytes(data_key.data(), kKeySize) != 1) Fail(ErrorKind::kInternal, "personal data: internal (no randomness)");
  const auto& master = keys.Current();
  SealedPerson sealed;
  const auto ciphertext = Seal(data_key.data(), plaintext, AssociatedData("returnflow.person.v1", {case_id, member_id, kSealedColumn}));
  sealed.sealed = Base64(reinterpret_cast<const unsigned char*>(ciphertext.data()), ciphertext.size());
  sealed.key_id = master.id;
  const auto wrapped = Seal(master.bytes.data(), std::string_view(reinterpret_cast<const char*>(data_key.data()), kKeySize),
                            WrapAad(case_id, member_id, master.id));
  sealed.wrapped_key = Base64(reinterpret_cast<const unsigned char*>(wrapped.data()), wrapped.size());
  OPENSSL_cleanse(data_key.data(), data_key.size());
  return sealed;
}

std::string OpenPerson(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                       const SealedPerson& sealed) {
  auto data_key = UnwrapDataKey(keys, case_id, member_id, sealed.key_id, sealed.wrapped_key);
  const auto ciphertext = DecodeBase64(sealed.sealed);
  auto plaintext = ciphertext ? Open(reinterpret_cast<const unsigned char*>(data_key.data()), *ciphertext,
                                     AssociatedData("returnflow.person.v1", {case_id, member_id, kSealedColumn}))
                              : std::nullopt;
  OPENSSL_cleanse(data_key.data(), data_key.size());
  if (!plaintext) {
    Fail(ErrorKind::kCorruptData, fmt::format("personal data case={}: corrupt_data (a people row does not authenticate "
                                              "under its data key: altered or moved)", case_id));
  }
  return std::move(*plaintext);
}

std::string RewrapDataKey(const MasterKeyring& keys, std::string_view case_id, std::string_view member_id,
                          std::string_view key_id, std::string_view wrapped_key, const MasterKeyring::Key& to) {
  auto data_key = UnwrapDataKey(keys, case_id, member_id, key_id, wrapped_key);
  const auto wrapped = Seal(to.bytes.data(), data_key, WrapAad(case_id, member_id, to.id));
  OPENSSL_cleanse(data_key.data(), data_key.size());
  return Base64(reinterpret_cast<const unsigned char*>(wrapped.data()), wrapped.size());
}

}  // namespace returnflow::persistence
