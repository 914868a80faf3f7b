// The quantisable head on tiny-mamba (tied embedding): lm_head is listed only when asked,
// forward_from(num_layers) runs just the final norm and the head, and a plan that
// quantises lm_head runs on the CPU and on Vulkan (lavapipe, validation on), changes the
// logits by a plausible amount, and quantises the one stored copy the embedding reads too.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "cpu/dequant.h"
#include "kllens/lens.h"
#include "kllens/model.h"
#ifdef KLLENS_HAVE_VULKAN
#include "kllens/vulkan.h"
#endif
#include "support/compare.h"
#include "support/vulkan_pair.h"

namespace kllens {
namespace {

const std::string kDir = std::string(KLLENS_SHARED_DIR) + "/fixtures/tiny-mamba";

std::vector<int32_t> some_ids(int64_t n, int64_t V) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + 3) % V);
  return ids;
}

double nmse(const std::vector<float>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return num / den;
}

Plan head_plan(Model& m, QuantSpec q) {
  const LinearLayer head = m.linear_layers(true).back();
  Plan p;
  p.name = "head";
  p.layers = {{head.name, head.block, head.weight->out_features(), head.weight->in_features()}};
  p.choice = {q};
  return p;
}

TEST(LensHead, ListedOnlyWhenAsked) {
  auto m = Model::load(kDir, test::cpu());
  const auto blocks = m->linear_layers(), all = m->linear_layers(true);
  ASSERT_EQ(all.size(), blocks.size() + 1);
  for (const LinearLayer& l : blocks) EXPECT_NE(l.name, kHeadLayer);
  EXPECT_EQ(all.back().name, kHeadLayer);
  EXPECT_EQ(all.back().block, m->config().num_layers);
  EXPECT_EQ(all.back().weight->out_features(), m->config().vocab_size);
  EXPECT_EQ(all.back().weight->in_features(), m->config().hidden_size);
}

// The stream after the last block, fed to forward_from(L), gives the forward's logits:
// the same norm_f over the same values (rms_norm vs the fused add_rms_norm, both fp32
// with the same sum order on the scalar side; 1e-12 NMSE allows the AVX2 tier's order).
TEST(LensHead, ForwardFromTheHeadMatchesTheForward) {
  for (const char* fixture : {"tiny-mamba", "tiny-mamba2", "tiny-hymba"}) {
    auto m = Model::load(std::string(KLLENS_SHARED_DIR) + "/fixtures/" + fixture, test::cpu());
    Backend& be = m->backend();
    const int64_t T = 9, V = m->config().vocab_size, L = m->config().num_layers;
    const std::vector<int32_t> ids = some_ids(2 * T, V);
    const Tensor logits = be.alloc(DType::F32, {2 * T, V}), again = be.alloc(DType::F32, {2 * T, V});
    Tensor last;  // Hymba's stream holds the meta-token rows too
    auto st = m->new_state(2);
    m->forward(ids, 2, T, *st, logits, [&](int64_t i, const Tensor& h) {
      if (i != L) return;
      last = be.alloc(DType::F32, {h.rows(), h.cols()});
      be.copy(h, last);
    });
    EXPECT_EQ(m->resume_block(L), L) << fixture;
    m->forward_from(L, last, 2, T, again);
    EXPECT_LE(nmse(test::fetch(be, logits), test::fetch(be, again)), 1e-12) << fixture;
  }
}

struct HeadCase { QuantSpec q; double lo, hi; };

// Bounds on NMSE(logits) vs the unquantised model: measured 5-7e-6 at 8 bits and 2-3e-3
// at 4 bits (the same on both backends), i.e. about 2^-8 per bit lost, as rounding
// noise of a uniform quantiser predicts; each bound sits a factor ~5 outside. Above `lo`
// the head did change; below `hi` it is still the model.
const HeadCase kHeadCases[] = {{{8, 0}, 1e-6, 4e-5}, {{8, 32}, 1e-6, 4e-5},
                               {{4, 0}, 4e-4, 1.5e-2}, {{4, 32}, 4e-4, 1.5e-2}};

void check_head_plan(Backend& be, bool on_vulkan) {
  auto m = Model::load(kDir, be);
  const int64_t T = 12, V = m->config().vocab_size, H = m->config().hidden_size;
  const std::vector<int32_t> ids = some_ids(T, V);
  const std::vector<float> base = compute_logits(*m, ids, 1, T);
  for (const HeadCase& c : kHeadCases) {
    const auto guards = apply_plan(*m, head_plan(*m, c.q));
    const Weight& w = *m->linear_layers(true).back().weight;
    ASSERT_TRUE(dtype_is_quantized(w.w.dtype));
    // One stored copy: the embedding reads the quantised rows (hook 0 = the embedding).
    std::vector<float> h0;
    auto st = m->new_state(1);
    const Tensor logits = be.alloc(DType::F32, {T, V});
    m->forward(ids, 1, T, *st, logits, [&](int64_t i, const Tensor& h) { if (i == 0) h0 = test::fetch(be, h); });
    std::vector<uint8_t> bytes(w.w.span_bytes());
    be.download(w.w, bytes.data());
    std::vector<float> scale(size_t(w.scale.empty() ? 0 : V));
    if (!scale.empty()) be.download(w.scale, scale.data());
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> row(static_cast<size_t>(H));
      cpu::dequant_row(w.w.dtype, bytes.data() + size_t(ids[size_t(t)]) * w.w.row_bytes(), H,
                       scale.empty() ? 1.0f : scale[size_t(ids[size_t(t)])], row.data());
      EXPECT_EQ(std::vector<float>(h0.begin() + t * H, h0.begin() + (t + 1) * H), row)
          << c.q.name() << " token " << t << (on_vulkan ? " vulkan" : " cpu");
    }
    const double e = nmse(base, test::fetch(be, logits));
    std::printf("  %s lm_head %s: logits NMSE vs unquantised %.3g\n", on_vulkan ? "vulkan" : "cpu",
                c.q.name().c_str(), e);
    EXPECT_GT(e, c.lo) << c.q.name();
    EXPECT_LT(e, c.hi) << c.q.name();
  }
  // The guards restored the unquantised head (and so the embedding).
  EXPECT_EQ(compute_logits(*m, ids, 1, T), base);
}

TEST(LensHead, PlanQuantisingTheHeadRunsOnTheCpu) { check_head_plan(test::cpu(), false); }

TEST(LensHead, PlanQuantisingTheHeadRunsOnVulkan) {
  REQUIRE_VULKAN();
  check_head_plan(*test::vulkan(), true);
#ifdef KLLENS_HAVE_VULKAN
  EXPECT_EQ(vulkan_validation_messages(*test::vulkan()), 0);
#endif
}

}  // namespace
}  // namespace kllens
