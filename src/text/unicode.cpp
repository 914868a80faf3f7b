// UTF-8 helpers for the tokenizers (see unicode.h). The well-formedness rules are those
// of the Unicode standard's table 3-7, which also define the "maximal subparts" that a
// lossy conversion replaces by one U+FFFD each.
#include "text/unicode.h"

#include <cstdlib>

#include <utf8proc.h>

#include "kllens/error.h"

namespace kllens::text {

namespace {

// How far a character starting at `pos` is well formed.
struct Utf8Prefix {
  size_t valid_len = 0;   // bytes from pos that can still start a well-formed character
  bool complete = false;  // whether those bytes are the whole character
};

Utf8Prefix read_utf8_prefix(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) return {1, true};
  size_t len = 0;
  unsigned char second_lo = 0x80, second_hi = 0xBF;  // the second byte's range depends on lead
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) second_lo = 0xA0;  // no overlong forms
    if (lead == 0xED) second_hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) second_lo = 0x90;  // no overlong forms
    if (lead == 0xF4) second_hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0, false};
  }
  size_t valid = 1;
  for (; valid < len && pos + valid < bytes.size(); ++valid) {
    const auto b = static_cast<unsigned char>(bytes[pos + valid]);
    const unsigned char lo = valid == 1 ? second_lo : 0x80;
    const unsigned char hi = valid == 1 ? second_hi : 0xBF;
    if (b < lo || b > hi) return {valid, false};
  }
  return {valid, valid == len};
}

}  // namespace

size_t first_invalid_utf8(std::string_view bytes) {
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Prefix p = read_utf8_prefix(bytes, pos);
    if (!p.complete) return pos;
    pos += p.valid_len;
  }
  return std::string_view::npos;
}

void append_utf8_lossy(std::string_view bytes, std::string& out) {
  for (size_t pos = 0; pos < bytes.size();) {
    const Utf8Prefix p = read_utf8_prefix(bytes, pos);
    if (p.complete) {
      out.append(bytes.substr(pos, p.valid_len));
      pos += p.valid_len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      pos += p.valid_len > 0 ? p.valid_len : 1;
    }
  }
}

size_t unfinished_utf8_tail(std::string_view bytes) {
  // Walk back over continuation bytes to the last lead byte; the tail is unfinished only
  // when everything from that lead byte on is a well-formed prefix that needs more bytes.
  for (size_t back = 1; back <= 3 && back <= bytes.size(); ++back) {
    const size_t pos = bytes.size() - back;
    const auto b = static_cast<unsigned char>(bytes[pos]);
    if (b >= 0x80 && b <= 0xBF) continue;
    const Utf8Prefix p = read_utf8_prefix(bytes, pos);
    return !p.complete && p.valid_len == back ? back : 0;
  }
  return 0;
}

size_t utf8_char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

void append_codepoint(uint32_t codepoint, std::string& out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(codepoint), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string nfc(std::string_view text) {
  // ASCII is its own NFC; skipping utf8proc for it keeps plain English text cheap.
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);

  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                          static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail("NFC normalisation failed: {}", utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
  return result;
}

}  // namespace kllens::text
