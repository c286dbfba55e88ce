#include "persistence/history_chain.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "persistence/case_rows.hpp"
#include "persistence/database.hpp"
#include "persistence/repository.hpp"

namespace returnflow::persistence {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string ToHex(const unsigned char* bytes, std::size_t size) {
  std::string hex;
  hex.reserve(size * 2);
  for (std::size_t index = 0; index < size; ++index) {
    hex += kHex[bytes[index] >> 4];
    hex += kHex[bytes[index] & 0x0f];
  }
  return hex;
}

std::optional<std::vector<unsigned char>> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  const auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  std::vector<unsigned char> bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t index = 0; index < hex.size(); index += 2) {
    const int high = nibble(hex[index]);
    const int low = nibble(hex[index + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<unsigned char>(high * 16 + low));
  }
  return bytes;
}

[[noreturn]] void Fail(ErrorKind kind, const std::string& message) { throw PersistenceError(kind, message); }

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string RawPublicHex(EVP_PKEY* key) {
  std::array<unsigned char, 32> raw{};
  std::size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &length) != 1 || length != raw.size()) {
    Fail(ErrorKind::kInternal, "signing key: internal (public key not readable)");
  }
  return ToHex(raw.data(), raw.size());
}

std::string ReadFile(const std::string& path, std::string_view what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) Fail(ErrorKind::kInvalidInput, std::string(what) + ": invalid_input (cannot read the key file)");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

// --- Canonical encoding ------------------------------------------------------------------------------

CanonicalHasher::CanonicalHasher(std::string_view domain) : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) != 1) {
    Fail(ErrorKind::kInternal, "history hash: internal (OpenSSL digest failed)");
  }
  Update(domain.data(), domain.size());
}

CanonicalHasher::~CanonicalHasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void CanonicalHasher::Update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), data, size) != 1) {
    Fail(ErrorKind::kInternal, "history hash: internal (OpenSSL digest failed)");
  }
}

CanonicalHasher& CanonicalHasher::Field(std::string_view bytes) {
  std::array<unsigned char, 8> length{};
  auto size = static_cast<std::uint64_t>(bytes.size());
  for (int index = 7; index >= 0; --index) {
    length[static_cast<std::size_t>(index)] = static_cast<unsigned char>(size & 0xff);
    size >>= 8;
  }
  Update(length.data(), length.size());
  Update(bytes.data(), bytes.size());
  return *this;
}

CanonicalHasher& CanonicalHasher::Field(long long number) { return Field(std::string_view(std::to_string(number))); }

std::string CanonicalHasher::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(context_), digest, &length) != 1) {
    Fail(ErrorKind::kInternal, "history hash: internal (OpenSSL digest failed)");
  }
  return ToHex(digest, length);
}

std::string HistoryRowHash(const internal::HistoryRow& row) {
  CanonicalHasher hasher("returnflow.history.v1");
  hasher.Field(row.case_id)
      .Field(row.sequence)
      .Field(row.source)
      .Field(row.event_id)
      .Field(row.type)
      .Field(row.actor)
      .Field(row.occurred_at)
      .Field(row.recorded_at)
      .Field(row.payload)
      .Field(row.request_hash)
      .Field(row.verdict)
      .Field(row.reason)
      .Field(row.states_before)
      .Field(row.states_after)
      .Field(row.changes)
      .Field(row.allowed_events)
      .Field(row.version_after)
      .Field(row.prev_hash);
  return hasher.HexDigest();
}

void ChainRow(std::string& head, internal::HistoryRow& row, bool enabled) {
  if (!enabled) {
    row.prev_hash.clear();
    row.hash.clear();
    return;
  }
  row.prev_hash = head.empty() ? std::string(kGenesisHash) : head;
  row.hash = HistoryRowHash(row);
  head = row.hash;
}

// --- Signing keys ------------------------------------------------------------------------------------

SigningKey::SigningKey(void* key) : key_(key), public_hex_(RawPublicHex(static_cast<EVP_PKEY*>(key))) {}
SigningKey::SigningKey(SigningKey&& other) noexcept
    : key_(std::exchange(other.key_, nullptr)), public_hex_(std::move(other.public_hex_)) {}
SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  std::swap(key_, other.key_);
  std::swap(public_hex_, other.public_hex_);
  return *this;
}
SigningKey::~SigningKey() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

SigningKey SigningKey::Load(const std::string& path) {
  const auto text = ReadFile(path, "signing key");
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    Fail(ErrorKind::kInvalidInput, "signing key: invalid_input (the file holds no Ed25519 private key in PEM)");
  }
  return SigningKey(key);
}

SigningKey SigningKey::LoadOrCreate(const std::string& path, bool* created) {
  if (created) *created = false;
  struct stat status {};
  if (::stat(path.c_str(), &status) == 0) return Load(path);

  EVP_PKEY* generated = nullptr;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                     &EVP_PKEY_CTX_free);
  if (!context || EVP_PKEY_keygen_init(context.get()) != 1 || EVP_PKEY_keygen(context.get(), &generated) != 1) {
    Fail(ErrorKind::kInternal, "signing key: internal (key generation failed)");
  }
  Key key(generated, &EVP_PKEY_free);
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    Fail(ErrorKind::kInternal, "signing key: internal (key not encodable)");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  // O_EXCL: of two processes creating the key at once, one writes it and the other reads that one.
  const int descriptor = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    if (errno == EEXIST) return Load(path);
    Fail(ErrorKind::kUnavailable, "signing key: unavailable (cannot create the key file)");
  }
  const bool written = ::write(descriptor, data, static_cast<std::size_t>(size)) == size && ::fsync(descriptor) == 0;
  ::close(descriptor);
  if (!written) {
    ::unlink(path.c_str());
    Fail(ErrorKind::kUnavailable, "signing key: unavailable (cannot write the key file)");
  }
  if (created) *created = true;
  return SigningKey(key.release());
}

std::string SigningKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<unsigned char, 64> signature{};
  std::size_t length = signature.size();
  if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_)) != 1 ||
      EVP_DigestSign(context.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    Fail(ErrorKind::kInternal, "signing key: internal (signing failed)");
  }
  return ToHex(signature.data(), length);
}

std::string SigningKey::PublicKeyPem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), static_cast<EVP_PKEY*>(key_)) != 1) {
    Fail(ErrorKind::kInternal, "signing key: internal (public key not encodable)");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string SigningKey::KeyId() const { return KeyIdOf(public_hex_); }

std::string KeyIdOf(std::string_view public_key_hex) {
  const auto raw = FromHex(public_key_hex);
  if (!raw) return "";
  return Sha256Hex(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size())).substr(0, 16);
}

std::string ReadPublicKeyFile(const std::string& path) {
  const auto text = ReadFile(path, "public key");
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  Key key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    Fail(ErrorKind::kInvalidInput, "public key: invalid_input (the file holds no Ed25519 public key in PEM)");
  }
  return RawPublicHex(key.get());
}

bool VerifySignature(std::string_view public_key_hex, std::string_view message, std::string_view signature_hex) {
  const auto raw = FromHex(public_key_hex);
  const auto signature = FromHex(signature_hex);
  if (!raw || raw->size() != 32 || !signature || signature->size() != 64) return false;
  Key key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw->data(), raw->size()), &EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!key || !context || EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(context.get(), signature->data(), signature->size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace returnflow::persistence
