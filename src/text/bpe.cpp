// The BPE model of a tokenizer.json (see bpe.h). Mirrors Hugging Face's
// tokenizers/src/models/bpe (model.rs merge_word, word.rs merge_all) step for step,
// quirks included, because the ids must match theirs exactly.
#include "text/bpe.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/json.h"
#include "kllens/error.h"
#include "text/unicode.h"

namespace kllens::text {

// ---- loading ----------------------------------------------------------------------------

namespace {

// An optional string option that kllens only supports when unset or empty.
void refuse_nonempty(const nlohmann::json& model, const char* key, const std::string& path) {
  if (model.contains(key) && !model[key].is_null() && model[key] != "")
    fail("{}: BPE option '{}' = {} is not supported", path, key, json_excerpt(model[key]));
}

std::pair<std::string, std::string> parse_merge(const nlohmann::json& merge, size_t rank,
                                                const std::string& path) {
  // Merges are written "left right" (older files) or ["left", "right"] (newer files).
  if (merge.is_string()) {
    const std::string& line = merge.get_ref<const std::string&>();
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      fail("{}: merge {} '{}' is not two tokens separated by one space", path, rank, line);
    return {line.substr(0, space), line.substr(space + 1)};
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]: {}", path, rank, json_excerpt(merge));
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& model, const std::string& path) {
  if (!model.is_object()) fail("{}: 'model' is missing or not an object", path);
  // Files written by old versions of `tokenizers` have no "type"; they are BPE when they
  // have merges.
  const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
  if (type != "BPE")
    fail("{}: unsupported tokenizer model type '{}' (kllens supports BPE)", path, type);
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail("{}: the BPE model has no 'vocab' object", path);
  if (!model.contains("merges") || !model["merges"].is_array())
    fail("{}: the BPE model has no 'merges' list", path);
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"] != 0)
    fail("{}: BPE dropout {} is not supported (encoding would be random)", path,
         json_excerpt(model["dropout"]));
  refuse_nonempty(model, "continuing_subword_prefix", path);
  refuse_nonempty(model, "end_of_word_suffix", path);

  vocab_.reserve(model["vocab"].size());
  for (const auto& [token, id] : model["vocab"].items()) {
    // Below INT32_MAX, so that a table of id + 1 entries can be sized without overflow.
    const auto v = json_int(id, 0, INT32_MAX - 1);
    if (!v)
      fail("{}: vocab entry '{}' has id {}, not an integer in 0..{}", path, excerpt(token),
           json_excerpt(id), INT32_MAX - 1);
    vocab_.emplace(token, int32_t(*v));
  }

  const auto& merges = model["merges"];
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = parse_merge(merges[rank], rank, path);
    const auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(left + right);
    if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end())
      fail("{}: merge {} '{} {}' names a token that is not in the vocabulary", path, rank,
           excerpt(left), excerpt(right));
    // A repeated pair keeps its last rank, as a Rust HashMap collected from the list does.
    merges_[pair_key(l->second, r->second)] = {int32_t(rank), m->second};
  }

  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto unk = vocab_.find(model["unk_token"].get<std::string>());
    if (unk == vocab_.end())
      fail("{}: unk_token {} is not in the vocabulary", path, json_excerpt(model["unk_token"]));
    unk_id_ = unk->second;
  }
  fuse_unk_ = model.value("fuse_unk", false);
  byte_fallback_ = model.value("byte_fallback", false);
  ignore_merges_ = model.value("ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[size_t(b)] = it == vocab_.end() ? -1 : it->second;
  }
}

// ---- encoding ---------------------------------------------------------------------------

const BpeModel::MergeTarget* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

std::vector<BpeModel::Symbol> BpeModel::initial_symbols(std::string_view word) const {
  // One symbol per character; a character that is not a token becomes its byte-fallback
  // tokens, else <unk> (consecutive unknowns fused into one when fuse_unk), else nothing.
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const auto index = int32_t(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1});
  };
  bool unk_pending = false;
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = utf8_char_length(static_cast<unsigned char>(word[pos]));
    const std::string_view ch = word.substr(pos, len);
    pos += len;
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      if (unk_pending) add(*unk_id_);
      unk_pending = false;
      add(it->second);
      continue;
    }
    if (byte_fallback_ && std::all_of(ch.begin(), ch.end(), [&](char c) {
          return byte_ids_[static_cast<unsigned char>(c)] >= 0;
        })) {
      // As in `tokenizers`, a pending <unk> is not flushed first here; it cannot happen
      // with the full 256 byte tokens that byte-fallback vocabularies have.
      for (char c : ch) add(byte_ids_[static_cast<unsigned char>(c)]);
      continue;
    }
    if (!unk_id_) continue;
    if (unk_pending && !fuse_unk_) add(*unk_id_);
    unk_pending = true;
  }
  if (unk_pending) add(*unk_id_);
  return symbols;
}

void BpeModel::merge_all(std::vector<Symbol>& symbols) const {
  struct Candidate {
    int32_t rank, pos, new_id;
  };
  // std heap functions keep the largest first; "larger" here means lower rank, then the
  // leftmost position, as the Ord of `tokenizers`' Merge.
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Candidate> heap;
  heap.reserve(symbols.size());
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (const MergeTarget* m = find_merge(symbols[i].id, symbols[i + 1].id))
      heap.push_back({m->rank, int32_t(i), m->new_id});
  std::make_heap(heap.begin(), heap.end(), later);

  auto push = [&](int32_t pos, const MergeTarget* m) {
    heap.push_back({m->rank, pos, m->new_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[size_t(top.pos)];
    if (left.merged_away || left.next < 0) continue;
    const Symbol right = symbols[size_t(left.next)];
    // A stale entry: the pair at this position has changed since it was queued.
    const MergeTarget* current = find_merge(left.id, right.id);
    if (!current || current->new_id != top.new_id) continue;

    left.id = top.new_id;
    symbols[size_t(left.next)].merged_away = true;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = top.pos;

    if (left.prev >= 0)
      if (const MergeTarget* m = find_merge(symbols[size_t(left.prev)].id, left.id))
        push(left.prev, m);
    if (left.next >= 0)
      if (const MergeTarget* m = find_merge(left.id, symbols[size_t(left.next)].id))
        push(top.pos, m);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_)
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  std::vector<Symbol> symbols = initial_symbols(word);
  merge_all(symbols);
  for (const Symbol& s : symbols)
    if (!s.merged_away) out.push_back(s.id);
}

}  // namespace kllens::text
