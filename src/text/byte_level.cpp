// The GPT-2 byte-level scheme (see byte_level.h). The split regex is the one fixed in
// `tokenizers`' ByteLevel pre-tokenizer; it needs Unicode classes (\p{L}, \p{N}) and a
// lookahead, so it runs on PCRE2 in UTF + UCP mode, JIT-compiled when available.
#include "text/byte_level.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <unordered_map>

#include "kllens/error.h"
#include "text/unicode.h"

namespace kllens::text {

namespace {

constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68
// bytes get the code points 256, 257, … in byte order.
std::array<uint32_t, 256> byte_code_points() {
  std::array<uint32_t, 256> cps{};
  uint32_t next_extra = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    cps[b] = printable ? b : next_extra++;
  }
  return cps;
}

const std::unordered_map<uint32_t, char>& code_point_bytes() {
  static const auto table = [] {
    std::unordered_map<uint32_t, char> t;
    const auto cps = byte_code_points();
    for (size_t b = 0; b < 256; ++b) t.emplace(cps[b], static_cast<char>(b));
    return t;
  }();
  return table;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  static const auto chars = [] {
    std::array<std::string, 256> c;
    const auto cps = byte_code_points();
    for (size_t b = 0; b < 256; ++b) append_codepoint(cps[b], c[b]);
    return c;
  }();
  return chars;
}

std::optional<std::string> byte_level_bytes(std::string_view token) {
  const auto& table = code_point_bytes();
  std::string bytes;
  for (size_t pos = 0; pos < token.size();) {
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(token.data() + pos),
                                    static_cast<utf8proc_ssize_t>(token.size() - pos), &cp);
    if (n <= 0) return std::nullopt;
    const auto it = table.find(static_cast<uint32_t>(cp));
    if (it == table.end()) return std::nullopt;
    bytes.push_back(it->second);
    pos += static_cast<size_t>(n);
  }
  return bytes;
}

// ---- the regex split --------------------------------------------------------------------

struct ByteLevelPreTokenizer::Regex {
  pcre2_code* code = nullptr;  // owned
  ~Regex() { pcre2_code_free(code); }
};

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
    : add_prefix_space_(add_prefix_space) {
  if (!use_regex) return;
  regex_ = std::make_unique<Regex>();
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern.data()),
                               kGpt2Pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                               &error_offset, nullptr);
  if (!regex_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    fail("cannot compile the GPT-2 pre-tokenizer regex: {}", reinterpret_cast<char*>(message));
  }
  // Without JIT (some platforms) PCRE2 interprets the pattern: slower, same matches.
  pcre2_jit_compile(regex_->code, PCRE2_JIT_COMPLETE);
}

ByteLevelPreTokenizer::~ByteLevelPreTokenizer() = default;

std::vector<std::string_view> ByteLevelPreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (!regex_) {
    if (!text.empty()) pieces.push_back(text);
    return pieces;
  }
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(regex_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t done = 0;  // text before this offset is already in pieces
  while (done < text.size()) {
    // The caller validated the UTF-8 once; PCRE2 would otherwise re-check the whole
    // subject on every call, which is quadratic over a long text.
    const int rc = pcre2_match(regex_->code, subject, text.size(), done,
                               PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail("the GPT-2 pre-tokenizer regex failed with PCRE2 error {}", rc);
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const size_t begin = ovector[0], end = ovector[1];
    KL_CHECK(end > begin, "every GPT-2 regex alternative matches at least one character");
    // Text between matches is a piece of its own ("isolated"), as in `tokenizers`.
    if (begin > done) pieces.push_back(text.substr(done, begin - done));
    pieces.push_back(text.substr(begin, end - begin));
    done = end;
  }
  if (done < text.size()) pieces.push_back(text.substr(done));
  return pieces;
}

}  // namespace kllens::text
