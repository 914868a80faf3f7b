// Tokenizers read from a Hugging Face tokenizer.json.
//
// Two kinds are supported, both BPE models, told apart by the json's pipeline:
//   - byte-level BPE (GPT-2 / GPT-NeoX): NFC normalizer, ByteLevel pre-tokenizer and
//     decoder;
//   - SentencePiece-style BPE (Llama): Prepend("▁") + Replace(" ", "▁") normalizer, byte
//     fallback <0xXX> tokens, decoder Replace/ByteFallback/Fuse/Strip.
// Encoding gives the ids Hugging Face's `tokenizers` gives with add_special_tokens=false
// (added tokens written in the text are still recognised, as there). Anything in the json
// that kllens does not implement is refused at load time with a message, never ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kllens {

class Tokenizer {
 public:
  // One token turned back into bytes by the json's per-token decoder steps.
  struct Piece {
    std::string bytes;
    bool fallback_byte = false;  // a <0xXX> byte-fallback token: bytes holds that one byte
  };

  // Turns ids into text one at a time for `generate`. push() returns the text that is now
  // complete: bytes of an unfinished UTF-8 character, or an unfinished run of byte-fallback
  // tokens, are held back until a later push() or flush(). The concatenation of all pushes
  // and the final flush() equals decode() of the same ids (decode() is built on it).
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& tokenizer);
    std::string push(int32_t id);
    std::string flush();  // emits whatever is held (invalid bytes as U+FFFD)

   private:
    std::string emit(std::string text);
    void release_fallback_run(std::string& out);

    const Tokenizer* tokenizer_;  // borrowed: the tokenizer must outlive the decoder
    std::string held_bytes_;      // ordinary token bytes ending in an unfinished UTF-8 character
    std::string fallback_run_;    // bytes of consecutive byte-fallback tokens seen so far
    int32_t strip_left_;          // leading strip characters still to remove from the output
  };

  virtual ~Tokenizer() = default;

  // Loads tokenizer.json (path to the file); reads eos_token from a tokenizer_config.json
  // beside it when there is one. Throws kllens::Error naming the file and what is wrong
  // for a missing, malformed or unsupported file.
  static std::unique_ptr<Tokenizer> load(const std::string& tokenizer_json_path);
  // The same from the files' text (tokenizer_config may be empty), as a GGUF file carries
  // them; `source` names them in errors.
  static std::unique_ptr<Tokenizer> from_json_text(const std::string& tokenizer_json,
                                                   const std::string& tokenizer_config,
                                                   const std::string& source);

  // Ids of the text; no special tokens (BOS/EOS) are added. Throws on invalid UTF-8.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Text of the ids, special tokens included. decode(encode(t)) == t for any t the json's
  // normalizer leaves unchanged (byte-level: NFC text) that names no added token; with the
  // Llama normalizer, text after an added token gains the "▁" prefix, as in `tokenizers`.
  // Throws on an id outside [0, vocab_size()) that names no token.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual StreamDecoder stream_decoder() const = 0;
  // One past the largest token id (model vocabulary and added tokens).
  virtual int32_t vocab_size() const = 0;
  // eos_token of tokenizer_config.json, else "</s>" or "<|endoftext|>" if they are tokens.
  virtual std::optional<int32_t> eos_id() const = 0;
  // The token's string as the json spells it ("Ġthe", "▁the", "<0x0A>", "</s>").
  virtual std::string token_text(int32_t id) const = 0;

  // The decoder's per-token step and its leading strip, used by StreamDecoder.
  virtual const Piece& piece(int32_t id) const = 0;
  struct LeadingStrip {
    std::string content;  // one UTF-8 character
    int32_t count = 0;    // how many leading copies of it the decoder removes at most
  };
  virtual const LeadingStrip& leading_strip() const = 0;
};

}  // namespace kllens
