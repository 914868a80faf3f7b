// The BPE model of a tokenizer.json: vocabulary, merge ranks, and the merge loop that
// turns one pre-tokenized word into ids exactly as Hugging Face's `tokenizers` does
// (BPE::merge_word + Word::merge_all: a heap of candidate merges ordered by rank, then
// by position, with stale entries skipped), which is O(n log n) in the word's length.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace kllens::text {

// Lets unordered_map<std::string, …> be searched with a string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // Reads the json's "model" object; `path` names the file in error messages.
  BpeModel(const nlohmann::json& model, const std::string& path);

  // Appends the ids of one word (a piece of normalised, pre-tokenized text).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  const TokenIds& vocab() const { return vocab_; }

 private:
  struct MergeTarget {
    int32_t rank;    // position in the merges list: lower merges first
    int32_t new_id;  // id of the merged token
  };
  struct Symbol {
    int32_t id;
    int32_t prev;  // index of the previous live symbol, -1 at the start
    int32_t next;  // index of the next live symbol, -1 at the end
    bool merged_away = false;
  };

  static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  const MergeTarget* find_merge(int32_t left, int32_t right) const;
  std::vector<Symbol> initial_symbols(std::string_view word) const;
  void merge_all(std::vector<Symbol>& symbols) const;

  TokenIds vocab_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;         // a word that is itself a token is not split
  std::array<int32_t, 256> byte_ids_;  // id of the <0xXX> token per byte, -1 if absent
};

}  // namespace kllens::text
