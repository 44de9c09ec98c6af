// muse-generate: text-to-image from a model directory on the command line, with stage timings.
// Also the raw-pipeline baseline of the benchmarks (--json prints one machine-readable line).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "model/pipeline.hpp"
#include "model/profiling.hpp"

namespace {

using muse::model::model_error;

const char* usage =
    "usage: muse-generate --model DIR --prompt P [--prompt P2 ...] [--negative N] [--steps 25] "
    "[--scheduler ddim]\n"
    "         [--guidance 7.5] [--seed S] [--width W --height H] [--batch B] [--device "
    "cpu|cuda:0]\n"
    "         [--dtype float32|float16|bfloat16] [--output out.png] [--repeat R] [--threads T] "
    "[--json]\n"
    "         [--cuda-graphs on|off] [--channels-last on|off] [--fused-kernels on|off] [--profile "
    "TRACE.json]\n"
    "         [--lora-dir DIR --lora NAME[:SCALE] [--lora NAME2 ...]] [--preview-every N]\n"
    "Image i of a batch takes prompt i modulo the number of --prompt flags, and seed S + i;\n"
    "with --lora flags, LoRA i modulo their number (DIR/NAME.safetensors; \"none\": no LoRA).\n"
    "--cuda-graphs, --channels-last and --fused-kernels (all on by default) apply on CUDA "
    "devices;\n"
    "--profile writes a Chrome trace of the last run (builds against a CUDA libtorch).\n"
    "--preview-every N makes every image's live preview every N steps, as a worker does for a job\n"
    "with previews: projected on the model's thread, its PNG encoded on another (0, the default:\n"
    "none).\n";

struct arguments {
  std::vector<std::string> prompts;
  std::vector<muse::model::lora_use> loras;  // name "none": that image takes no LoRA
  std::string lora_dir;
  std::string model, negative, scheduler = "ddim", device = "cpu", dtype = "float32",
                               output = "out.png";
  std::string profile;
  muse::model::cuda_engine_options cuda;
  int steps = 25, width = 0, height = 0, batch = 1, repeat = 1, threads = 0, preview_every = 0;
  float guidance = 7.5f;
  uint64_t seed = 0;
  bool json = false;
};

int to_int(const std::string& flag, const std::string& value) {
  try {
    size_t used = 0;
    const int v = std::stoi(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(flag + " needs an integer, got '" + value + "'");
}

arguments parse(int argc, char** argv) {
  arguments a;
  const std::map<std::string, std::string*> strings = {
      {"--model", &a.model},     {"--negative", &a.negative}, {"--scheduler", &a.scheduler},
      {"--device", &a.device},   {"--dtype", &a.dtype},       {"--output", &a.output},
      {"--profile", &a.profile}, {"--lora-dir", &a.lora_dir}};
  const std::map<std::string, bool*> switches = {{"--cuda-graphs", &a.cuda.graphs},
                                                 {"--channels-last", &a.cuda.channels_last},
                                                 {"--fused-kernels", &a.cuda.fused_kernels}};
  const std::map<std::string, int*> ints = {{"--steps", &a.steps},
                                            {"--width", &a.width},
                                            {"--height", &a.height},
                                            {"--batch", &a.batch},
                                            {"--repeat", &a.repeat},
                                            {"--threads", &a.threads},
                                            {"--preview-every", &a.preview_every}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (flag == "--json") {
      a.json = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--prompt") {
      a.prompts.push_back(value);
    } else if (flag == "--lora") {
      const auto colon = value.find(':');
      muse::model::lora_use lora{value.substr(0, colon), 1.0};
      if (colon != std::string::npos) {
        try {
          lora.scale = std::stod(value.substr(colon + 1));
        } catch (const std::exception&) {
          throw std::invalid_argument("--lora takes NAME or NAME:SCALE, got '" + value + "'");
        }
      }
      a.loras.push_back(lora);
    } else if (auto s = strings.find(flag); s != strings.end()) {
      *s->second = value;
    } else if (auto b = switches.find(flag); b != switches.end()) {
      if (value != "on" && value != "off")
        throw std::invalid_argument(flag + " takes on or off, got '" + value + "'");
      *b->second = value == "on";
    } else if (auto n = ints.find(flag); n != ints.end()) {
      *n->second = to_int(flag, value);
    } else if (flag == "--guidance") {
      try {
        a.guidance = std::stof(value);
      } catch (const std::exception&) {
        throw std::invalid_argument("--guidance needs a number, got '" + value + "'");
      }
    } else if (flag == "--seed") {
      try {
        a.seed = std::stoull(value);
      } catch (const std::exception&) {
        throw std::invalid_argument("--seed needs a non-negative integer, got '" + value + "'");
      }
    } else {
      throw std::invalid_argument("unknown argument " + flag);
    }
  }
  if (a.model.empty()) throw std::invalid_argument("--model is required");
  if (a.prompts.empty()) throw std::invalid_argument("--prompt is required");
  if (a.batch < 1 || a.batch > 256) throw std::invalid_argument("--batch must be 1..256");
  if (a.repeat < 1) throw std::invalid_argument("--repeat must be at least 1");
  if (a.threads < 0) throw std::invalid_argument("--threads must be >= 0");
  if (a.preview_every < 0) throw std::invalid_argument("--preview-every must be >= 0");
  if (!a.loras.empty() && a.lora_dir.empty())
    throw std::invalid_argument("--lora needs --lora-dir");
  return a;
}

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string output_name(const std::string& base, int index, int count) {
  if (count == 1) return base;
  const auto dot = base.find_last_of('.');
  const auto slash = base.find_last_of('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const auto stem = has_ext ? base.substr(0, dot) : base,
             ext = has_ext ? base.substr(dot) : std::string(".png");
  return stem + "-" + std::to_string(index) + ext;
}

int run(const arguments& a) {
  muse::model::set_cpu_threads(a.threads);
  const auto load_start = std::chrono::steady_clock::now();
  auto pipe = muse::model::pipeline::load(a.model, a.device, a.dtype, a.scheduler, "", a.cuda);
  if (!a.lora_dir.empty()) pipe->set_lora_library(a.lora_dir, int64_t(4) << 30);
  const double load_ms = ms_between(load_start, std::chrono::steady_clock::now());
  const auto limits = pipe->limits();

  std::vector<muse::model::sample_request> requests;
  for (int i = 0; i < a.batch; ++i) {
    muse::model::sample_request r;
    r.prompt = a.prompts[static_cast<size_t>(i) % a.prompts.size()];
    r.negative_prompt = a.negative;
    r.steps = a.steps;
    r.guidance_scale = a.guidance;
    r.seed = a.seed + static_cast<uint64_t>(i);
    r.width = a.width > 0 ? a.width : limits.default_width;
    r.height = a.height > 0 ? a.height : limits.default_height;
    r.scheduler = a.scheduler;
    if (!a.loras.empty()) {
      const auto& lora = a.loras[static_cast<size_t>(i) % a.loras.size()];
      if (lora.name != "none") r.loras.push_back(lora);
    }
    requests.push_back(r);
  }
  if (!a.json)
    std::printf("loaded %s in %.0f ms (%s, %s); %d x %dx%d, %d steps, %s\n", pipe->name().c_str(),
                load_ms, a.device.c_str(), a.dtype.c_str(), a.batch, requests[0].width,
                requests[0].height, a.steps, a.scheduler.c_str());

  std::vector<double> totals, encodes, decodes, unet_steps;
  std::vector<muse::model::rgb_image> images;
  for (int r = 0; r < a.repeat; ++r) {
    const bool traced = !a.profile.empty() && r + 1 == a.repeat;
    if (traced) muse::model::start_gpu_trace();
    const auto start = std::chrono::steady_clock::now();
    auto samples = pipe->start(requests);
    const double encode_ms = pipe->timings().encode_ms;
    std::vector<muse::model::sample_state*> batch;
    for (auto& s : samples) batch.push_back(&s);
    std::vector<double> steps;
    // Previews as a worker makes them: projected on this thread, encoded on another.
    std::vector<std::future<size_t>> encoded_previews;
    while (!batch.front()->finished()) {
      pipe->step(batch);
      steps.push_back(pipe->timings().unet_ms);
      if (a.preview_every > 0 && !batch.front()->finished() &&
          steps.size() % static_cast<size_t>(a.preview_every) == 0)
        encoded_previews.push_back(
            std::async(std::launch::async, [previews = pipe->preview(batch)] {
              size_t bytes = 0;
              for (const auto& preview : previews)
                bytes += muse::model::encode_png(preview, muse::model::png_effort::fast).size();
              return bytes;
            }));
    }
    size_t preview_bytes = 0;
    for (auto& bytes : encoded_previews) preview_bytes += bytes.get();
    if (preview_bytes > 0 && !a.json) std::printf("previews: %zu PNG bytes\n", preview_bytes);
    images = pipe->decode(batch);
    const double total = ms_between(start, std::chrono::steady_clock::now());
    if (traced) muse::model::stop_gpu_trace(a.profile);
    const double step_mean =
        std::accumulate(steps.begin(), steps.end(), 0.0) / static_cast<double>(steps.size());
    if (!a.json)
      std::printf(
          "run %d: encode %.1f ms, unet %.1f ms/step (%zu steps), decode %.1f ms, total %.1f ms, "
          "%.3f images/s\n",
          r + 1, encode_ms, step_mean, steps.size(), pipe->timings().decode_ms, total,
          a.batch * 1000.0 / total);
    totals.push_back(total);
    encodes.push_back(encode_ms);
    decodes.push_back(pipe->timings().decode_ms);
    unet_steps.insert(unet_steps.end(), steps.begin(), steps.end());
  }
  for (int i = 0; i < a.batch; ++i) {
    const auto name = output_name(a.output, i, a.batch);
    std::ofstream out(name, std::ios::binary);
    const auto png = muse::model::encode_png(images[static_cast<size_t>(i)]);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out) throw std::runtime_error("cannot write " + name);
    if (!a.json) std::printf("wrote %s\n", name.c_str());
  }
  // The median step ignores the first steps' one-off costs (kernel selection, allocator growth).
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  // The first run warms caches and kernels; report the later ones when there are any.
  auto steady = [&](const std::vector<double>& v) {
    return v.size() > 1 ? std::accumulate(v.begin() + 1, v.end(), 0.0) / (v.size() - 1) : v.front();
  };
  const double total_ms = steady(totals);
  // The working memory the estimate gives this run (model/README.md, "Memory").
  int unet_rows = 0;
  for (const auto& r : requests) unet_rows += r.guidance_scale > 1.0f ? 2 : 1;
  const auto need = muse::model::estimate_memory(
      pipe->memory_shape(), int64_t(requests[0].width) * requests[0].height, a.batch, unet_rows);
  if (a.json) {
    nlohmann::json line = {
        {"model", pipe->name()},
        {"device", a.device},
        {"dtype", a.dtype},
        {"scheduler", a.scheduler},
        {"steps", a.steps},
        {"batch", a.batch},
        {"width", requests[0].width},
        {"height", requests[0].height},
        {"guidance", a.guidance},
        {"repeat", a.repeat},
        {"load_ms", load_ms},
        {"encode_ms", steady(encodes)},
        {"unet_step_ms", median(unet_steps)},
        {"decode_ms", steady(decodes)},
        {"total_ms", total_ms},
        {"images_per_s", a.batch * 1000.0 / total_ms},
        {"cuda_graphs", a.cuda.graphs},
        {"channels_last", a.cuda.channels_last},
        {"fused_kernels", a.cuda.fused_kernels},
        {"preview_every", a.preview_every},
        {"estimated_unet_mb", muse::model::bytes_to_mb(need.unet_step_bytes)},
        {"estimated_decode_mb", muse::model::bytes_to_mb(need.vae_decode_bytes)}};
    std::cout << line.dump() << std::endl;
  } else {
    std::printf("total %.1f ms per batch, %.3f images/s\n", total_ms, a.batch * 1000.0 / total_ms);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  arguments args;
  try {
    args = parse(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "muse-generate: %s\n%s", e.what(), usage);
    return 2;
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "muse-generate: %s\n", e.what());
    return 1;
  }
}
