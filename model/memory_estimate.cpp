#include "model/memory_estimate.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "model/networks/attention.hpp"

namespace muse::model {

namespace {

// Attention scores of one call: (rows x heads) x Lq x Lk float32, in chunks of at most
// attention_score_budget_bytes (at least one query row). Two blocks live at once (the scores and
// their scaled copy, then that and the softmax); a third in reduced precision (the float32 copy).
double score_bytes(const memory_architecture& a, double rows_heads, double query_length,
                   double key_length) {
  const double whole = rows_heads * query_length * key_length * 4;
  const double one_row = rows_heads * key_length * 4;
  const double blocks = a.dtype_bytes < 4 ? 3 : 2;
  return blocks * std::min(whole, std::max(double(attention_score_budget_bytes), one_row));
}

// A resnet block's live tensors: its input and normalised input (cin), then conv, norm, conv,
// shortcut and sum (cout), per pixel.
double resnet_elements(double cin, double cout) { return 2 * cin + 5 * cout; }

double unet_step_bytes(const memory_architecture& a, double latent_pixels, double rows) {
  const auto& levels = a.unet_levels;
  const size_t n = levels.size();
  double skips = levels.empty() ? 0 : levels[0].channels * latent_pixels;  // conv_in
  double stage = 0;   // elements per row of the largest stage
  double scores = 0;  // bytes of the largest attention score block
  for (size_t l = 0; l < n; ++l) {
    const double pixels = latent_pixels / std::pow(4.0, double(l));
    const double c = levels[l].channels;
    const double deeper = levels[std::min(l + 1, n - 1)].channels;
    skips += levels[l].layers * c * pixels + (l + 1 < n ? c * pixels / 4 : 0);
    // On the way up a resnet takes the previous output concatenated with a skip.
    stage = std::max(stage, resnet_elements(c + deeper, c) * pixels + deeper * pixels);
    const bool attention = levels[l].attention || l + 1 == n;  // the mid block attends
    if (attention) {
      // Transformer block: norms, q/k/v, heads split and merged, the GEGLU feed-forward (8c).
      stage = std::max(stage, 20 * c * pixels);
      const double rows_heads = rows * levels[l].heads;
      scores = std::max({scores, score_bytes(a, rows_heads, pixels, pixels),
                         score_bytes(a, rows_heads, pixels, a.text_length)});
    }
  }
  return rows * a.dtype_bytes * (skips + stage) + scores;
}

double vae_decode_bytes(const memory_architecture& a, double latent_pixels, double images) {
  std::vector<double> channels(a.vae_channels.rbegin(), a.vae_channels.rend());
  if (channels.empty()) return 0;
  const size_t n = channels.size();
  double stage = resnet_elements(channels[0], channels[0]) * latent_pixels;
  double scores = 0;
  if (a.vae_mid_attention) {
    stage = std::max(stage, 8 * channels[0] * latent_pixels);
    scores = score_bytes(a, images, latent_pixels, latent_pixels);
  }
  for (size_t i = 0; i < n; ++i) {
    const double pixels = latent_pixels * std::pow(4.0, double(i));
    const double cin = i == 0 ? channels[0] : channels[i - 1];
    stage = std::max(stage, resnet_elements(cin, channels[i]) * pixels);
    // Upsampler: input, its nearest-neighbour double and the conv's output.
    if (i + 1 < n) stage = std::max(stage, channels[i] * pixels * 9);
  }
  const double image_pixels = latent_pixels * std::pow(4.0, double(n - 1));
  // Output norm, activation and conv, then the float32 picture's conversions to 8 bits.
  stage = std::max(stage, (2 * channels[n - 1] + 3) * image_pixels);
  const double to_rgb = images * image_pixels * 3 * (4 * 4 + 1);
  return images * a.dtype_bytes * stage + scores + to_rgb;
}

}  // namespace

memory_need estimate_memory(const memory_architecture& architecture, int64_t pixels, int images,
                            int unet_rows) {
  const double factor = double(architecture.vae_factor) * architecture.vae_factor;
  const double latent_pixels = double(std::max<int64_t>(pixels, 0)) / factor;
  memory_need need;
  need.unet_step_bytes = int64_t(
      std::ceil(memory_estimate_margin * unet_step_bytes(architecture, latent_pixels, unet_rows)));
  need.vae_decode_bytes = int64_t(
      std::ceil(memory_estimate_margin * vae_decode_bytes(architecture, latent_pixels, images)));
  return need;
}

int64_t sample_memory_bytes(const memory_architecture& architecture, int64_t width,
                            int64_t height) {
  return estimate_memory(architecture, width * height, 1, 2).peak_bytes();
}

int64_t max_fitting_pixels(const memory_architecture& architecture, int64_t budget_bytes,
                           int64_t max_pixels) {
  auto fits = [&](int64_t pixels) {
    return estimate_memory(architecture, pixels, 1, 2).peak_bytes() <= budget_bytes;
  };
  if (!fits(1)) return 0;
  int64_t low = 1, high = max_pixels;  // fits(low) holds
  if (fits(high)) return high;
  while (high - low > 1) {
    const int64_t middle = low + (high - low) / 2;
    (fits(middle) ? low : high) = middle;
  }
  return low;
}

std::vector<size_t> memory_runs(const memory_architecture& architecture, int64_t budget_bytes,
                                const std::vector<sample_shape>& samples, bool decoding) {
  std::vector<size_t> runs;
  std::map<int64_t, std::pair<int, int>> run;  // pixels -> images, UNet rows
  auto need_of = [&](const std::map<int64_t, std::pair<int, int>>& sizes) {
    int64_t need = 0;
    for (const auto& [pixels, count] : sizes) {
      const auto estimate = estimate_memory(architecture, pixels, count.first, count.second);
      need = std::max(need, decoding ? estimate.vae_decode_bytes : estimate.unet_step_bytes);
    }
    return need;
  };
  for (const auto& sample : samples) {
    auto grown = run;
    auto& [images, rows] = grown[sample.pixels];
    images += 1;
    rows += sample.guided ? 2 : 1;
    if (!run.empty() && need_of(grown) > budget_bytes) {
      runs.push_back(0);
      grown.clear();
      grown[sample.pixels] = {1, sample.guided ? 2 : 1};
    }
    if (runs.empty()) runs.push_back(0);
    ++runs.back();
    run = std::move(grown);
  }
  return runs;
}

int64_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? int64_t(pages) * page_size : int64_t(8) << 30;
}

int64_t memory_budget_bytes(int64_t budget_mb, const device_memory& memory, int workers_on_device) {
  if (budget_mb > 0) return budget_mb << 20;
  const int64_t workers = std::max(workers_on_device, 1);
  const int64_t share = memory.host ? memory.total_bytes / 2 / workers
                                    : memory.total_bytes / 10 * 9 / workers - memory.weights_bytes;
  return std::max(share, int64_t(1) << 20);
}

int64_t bytes_to_mb(int64_t bytes) { return (bytes + (int64_t(1) << 20) - 1) >> 20; }

}  // namespace muse::model
