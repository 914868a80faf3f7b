// UTF-8 helpers for the tokenizers: validation, the lossy conversion Hugging Face uses
// when decoded bytes are not valid UTF-8, finding an unfinished character at the end of
// a byte stream (for streaming decode), and NFC normalisation (utf8proc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kllens::text {

// Offset of the first byte that does not start a complete well-formed UTF-8 character,
// or std::string_view::npos when the whole string is valid UTF-8.
size_t first_invalid_utf8(std::string_view bytes);

// Appends bytes as UTF-8 text, replacing each maximal ill-formed subpart by U+FFFD, as
// Rust's String::from_utf8_lossy (and so the ByteLevel decoder) does.
void append_utf8_lossy(std::string_view bytes, std::string& out);

// Length (0..3) of the well-formed but unfinished UTF-8 character at the end of bytes.
size_t unfinished_utf8_tail(std::string_view bytes);

// Length in bytes of the UTF-8 character that starts with lead byte `lead` of valid text.
size_t utf8_char_length(unsigned char lead);

void append_codepoint(uint32_t codepoint, std::string& out);

// Unicode NFC of valid UTF-8 text.
std::string nfc(std::string_view text);

}  // namespace kllens::text
