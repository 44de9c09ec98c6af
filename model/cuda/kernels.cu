// Fused kernels of model/cuda (see kernels.hpp). Each thread moves 16 bytes at a time; sums are
// float32; the group statistics are reduced in a fixed order (no float atomics), so repeated runs
// give identical bits.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <utility>

#include "model/cuda/kernels.hpp"

namespace muse::model::cuda {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

int multiprocessors() {
  static std::atomic<int> cached[64] = {};
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= 64) device = 0;
  int count = cached[device].load();
  if (count == 0) {
    check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
          "cudaDeviceGetAttribute");
    cached[device].store(count);
  }
  return count;
}

template <typename T>
struct convert;
template <>
struct convert<float> {
  static __device__ __forceinline__ float in(float v) { return v; }
  static __device__ __forceinline__ float out(float v) { return v; }
};
template <>
struct convert<__half> {
  static __device__ __forceinline__ float in(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half out(float v) { return __float2half_rn(v); }
};
template <>
struct convert<__nv_bfloat16> {
  static __device__ __forceinline__ float in(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 out(float v) { return __float2bfloat16_rn(v); }
};

// Elements per 16-byte access.
template <typename T>
constexpr int vector_width = 16 / sizeof(T);

template <typename T>
struct alignas(16) vector {
  T values[vector_width<T>];
};

template <typename T>
__device__ __forceinline__ vector<T> load(const T* p) {
  return *reinterpret_cast<const vector<T>*>(p);
}
template <typename T>
__device__ __forceinline__ void store(T* p, const vector<T>& v) {
  *reinterpret_cast<vector<T>*>(p) = v;
}

// SiLU with the fast exponential and division (a few ulp of float32, far below a half's
// rounding): with the exact ones the group norm's apply pass is bound by arithmetic, not memory.
__device__ __forceinline__ float silu(float x) { return __fdividef(x, 1.0f + __expf(-x)); }
__device__ __forceinline__ float gelu(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}

// ---- group norm ----

constexpr int max_threads = 512;

// Threads laid out as `rows` x `lanes`, each lane one 16-byte slice of the channels; threads past
// rows x lanes idle.
struct block_layout {
  int threads = 0;
  int lanes = 0;
  int rows = 0;
};

template <typename T>
block_layout layout_for(int channels) {
  block_layout l;
  l.lanes = channels / vector_width<T>;
  l.threads = l.lanes <= 256 ? 256 : (l.lanes + 31) / 32 * 32;
  l.rows = l.threads / l.lanes;
  return l;
}

int64_t splits_for(const group_norm_shape& s, int rows) {
  // About four blocks per multiprocessor, but at least 8 pixels per thread row.
  const int64_t wanted = (4 * multiprocessors() + s.images - 1) / s.images;
  const int64_t most = std::max<int64_t>(1, (s.pixels + 8 * rows - 1) / (8 * rows));
  return std::max<int64_t>(1, std::min(wanted, most));
}

// Block (split, image): per-channel sums of x + addend over its share of the pixels, reduced to
// one (sum, sum of squares) pair per group in `partials`. The apply kernel finishes the reduction.
template <typename T>
__global__ void group_norm_statistics(const T* __restrict__ input, const T* __restrict__ addend,
                                      int64_t pixels, int channels, int groups, int64_t splits,
                                      float* __restrict__ partials) {
  extern __shared__ float shared[];
  constexpr int width = vector_width<T>;
  const int lanes = channels / width;
  const int rows = blockDim.x / lanes;
  const int lane = threadIdx.x % lanes, row = threadIdx.x / lanes;
  const int64_t image = blockIdx.y, split = blockIdx.x;
  const int64_t per_split = (pixels + splits - 1) / splits;
  const int64_t first = split * per_split, last = min(pixels, first + per_split);

  float sum[width], squares[width], add[width];
#pragma unroll
  for (int v = 0; v < width; ++v) sum[v] = squares[v] = add[v] = 0.0f;
  if (row < rows) {
    if (addend) {
      const auto values = load(addend + image * channels + lane * width);
#pragma unroll
      for (int v = 0; v < width; ++v) add[v] = convert<T>::in(values.values[v]);
    }
    const T* base = input + image * pixels * channels + lane * width;
    auto accumulate = [&](const vector<T>& values) {
#pragma unroll
      for (int v = 0; v < width; ++v) {
        const float x = convert<T>::in(values.values[v]) + add[v];
        sum[v] += x;
        squares[v] += x * x;
      }
    };
    // Four loads in flight per thread before the first is used.
    int64_t p = first + row;
    for (; p + 3 * rows < last; p += 4 * rows) {
      const auto a = load(base + p * channels), b = load(base + (p + rows) * channels),
                 c = load(base + (p + 2 * rows) * channels),
                 d = load(base + (p + 3 * rows) * channels);
      accumulate(a);
      accumulate(b);
      accumulate(c);
      accumulate(d);
    }
    for (; p < last; p += rows) accumulate(load(base + p * channels));
  }
  float* row_sums = shared;
  float* row_squares = shared + rows * channels;
  if (row < rows) {
#pragma unroll
    for (int v = 0; v < width; ++v) {
      row_sums[row * channels + lane * width + v] = sum[v];
      row_squares[row * channels + lane * width + v] = squares[v];
    }
  }
  __syncthreads();
  // Each channel over the rows (into row 0), then each group over its channels.
  for (int c = threadIdx.x; c < channels; c += blockDim.x) {
    float a = row_sums[c], b = row_squares[c];
    for (int r = 1; r < rows; ++r) {
      a += row_sums[r * channels + c];
      b += row_squares[r * channels + c];
    }
    row_sums[c] = a;
    row_squares[c] = b;
  }
  __syncthreads();
  const int per_group = channels / groups;
  for (int g = threadIdx.x; g < groups; g += blockDim.x) {
    float a = 0.0f, b = 0.0f;
    for (int c = g * per_group; c < (g + 1) * per_group; ++c) {
      a += row_sums[c];
      b += row_squares[c];
    }
    float* out = partials + ((image * splits + split) * groups + g) * 2;
    out[0] = a;
    out[1] = b;
  }
}

// Block (part, image): first the image's group statistics from the partials (every block of the
// image sums them in the same order, in float64), then y = x * scale + shift (+ SiLU) over its
// share of the pixels, each thread's scale and shift for its 8 channels held in registers. The
// thread's parameters and first pixel are loaded before the statistics, to overlap the latencies.
template <typename T>
__global__ void __launch_bounds__(max_threads, 2)
    group_norm_apply(const T* __restrict__ input, const T* __restrict__ addend,
                     const T* __restrict__ gamma, const T* __restrict__ beta,
                     T* __restrict__ output, const float* __restrict__ partials, int64_t pixels,
                     int channels, int groups, int64_t splits, float eps, bool apply_silu) {
  extern __shared__ float statistics[];  // mean, inverse std per group
  constexpr int width = vector_width<T>;
  const int64_t image = blockIdx.y;
  const int lanes = channels / width;
  const int rows = blockDim.x / lanes;
  const int lane = threadIdx.x % lanes, row = threadIdx.x / lanes;
  const bool active = row < rows;
  const T* in = input + image * pixels * channels + lane * width;
  T* out = output + image * pixels * channels + lane * width;
  int64_t p = blockIdx.x * static_cast<int64_t>(rows) + row;
  vector<T> weight{}, bias{}, add{}, first{};
  if (active) {
    if (gamma) weight = load(gamma + lane * width);
    if (beta) bias = load(beta + lane * width);
    if (addend) add = load(addend + image * channels + lane * width);
    if (p < pixels) first = load(in + p * channels);
  }

  // Eight threads per group, each summing every eighth split, then a fixed shuffle tree.
  constexpr int per_group_threads = 8;
  const int per_group = channels / groups;
  const double count = static_cast<double>(pixels) * per_group;
  for (int base = 0; base < groups; base += blockDim.x / per_group_threads) {
    const int g = base + threadIdx.x / per_group_threads;
    const int part = threadIdx.x % per_group_threads;
    double a = 0.0, b = 0.0;
    if (g < groups)
      for (int64_t s = part; s < splits; s += per_group_threads) {
        const float* in_partial = partials + ((image * splits + s) * groups + g) * 2;
        a += in_partial[0];
        b += in_partial[1];
      }
#pragma unroll
    for (int offset = per_group_threads / 2; offset > 0; offset /= 2) {
      a += __shfl_xor_sync(0xffffffffu, a, offset);
      b += __shfl_xor_sync(0xffffffffu, b, offset);
    }
    if (g < groups && part == 0) {
      const double mean = a / count;
      const double variance = fmax(b / count - mean * mean, 0.0);
      statistics[2 * g] = static_cast<float>(mean);
      statistics[2 * g + 1] = static_cast<float>(1.0 / sqrt(variance + eps));
    }
  }
  __syncthreads();
  if (!active) return;

  // y = (x + add - mean) * rstd * weight + bias = x * scale + shift.
  float scale[width], shift[width];
#pragma unroll
  for (int v = 0; v < width; ++v) {
    const int g = (lane * width + v) / per_group;
    scale[v] = statistics[2 * g + 1] * (gamma ? convert<T>::in(weight.values[v]) : 1.0f);
    shift[v] = (beta ? convert<T>::in(bias.values[v]) : 0.0f) +
               ((addend ? convert<T>::in(add.values[v]) : 0.0f) - statistics[2 * g]) * scale[v];
  }
  auto normalise = [&](vector<T> values) {
#pragma unroll
    for (int v = 0; v < width; ++v) {
      float x = convert<T>::in(values.values[v]) * scale[v] + shift[v];
      if (apply_silu) x = silu(x);
      values.values[v] = convert<T>::out(x);
    }
    return values;
  };
  if (p >= pixels) return;
  store(out + p * channels, normalise(first));
  const int64_t stride = static_cast<int64_t>(gridDim.x) * rows;
  p += stride;
  // Two loads in flight per thread.
  for (; p + stride < pixels; p += 2 * stride) {
    const auto a = load(in + p * channels), b = load(in + (p + stride) * channels);
    store(out + p * channels, normalise(a));
    store(out + (p + stride) * channels, normalise(b));
  }
  if (p < pixels) store(out + p * channels, normalise(load(in + p * channels)));
}

template <typename T>
void launch_group_norm(const void* input, const void* addend, const void* gamma, const void* beta,
                       void* output, const group_norm_shape& s, float eps, bool silu,
                       float* workspace, cudaStream_t stream) {
  const auto layout = layout_for<T>(s.channels);
  const int64_t splits = splits_for(s, layout.rows);
  const size_t statistics_bytes = 2 * sizeof(float) * layout.rows * s.channels;
  group_norm_statistics<T>
      <<<dim3(static_cast<unsigned>(splits), static_cast<unsigned>(s.images)), layout.threads,
         statistics_bytes, stream>>>(static_cast<const T*>(input), static_cast<const T*>(addend),
                                     s.pixels, s.channels, s.groups, splits, workspace);
  check(cudaGetLastError(), "group norm statistics");

  // About eight blocks per multiprocessor, but at least four pixels per thread: each block first
  // reduces the statistics, which small images would otherwise repeat for every pixel row.
  const int64_t wanted = (8 * multiprocessors() + s.images - 1) / s.images;
  const int64_t blocks =
      std::max<int64_t>(1, std::min(wanted, (s.pixels + 4 * layout.rows - 1) / (4 * layout.rows)));
  group_norm_apply<T><<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(s.images)),
                        layout.threads, 2 * sizeof(float) * s.groups, stream>>>(
      static_cast<const T*>(input), static_cast<const T*>(addend), static_cast<const T*>(gamma),
      static_cast<const T*>(beta), static_cast<T*>(output), workspace, s.pixels, s.channels,
      s.groups, splits, eps, silu);
  check(cudaGetLastError(), "group norm apply");
}

// ---- residual + bias ----

template <typename T>
__global__ void add_residual_and_bias_kernel(T* __restrict__ a, const T* __restrict__ b,
                                             const T* __restrict__ bias, unsigned vectors,
                                             unsigned lanes) {
  constexpr int width = vector_width<T>;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors;
       i += gridDim.x * blockDim.x) {
    auto x = load(a + static_cast<size_t>(i) * width);
    vector<T> y{}, c{};
    if (b) y = load(b + static_cast<size_t>(i) * width);
    if (bias) c = load(bias + (i % lanes) * width);
#pragma unroll
    for (int v = 0; v < width; ++v) {
      float sum = convert<T>::in(x.values[v]);
      if (b) sum += convert<T>::in(y.values[v]);
      if (bias) sum += convert<T>::in(c.values[v]);
      x.values[v] = convert<T>::out(sum);
    }
    store(a + static_cast<size_t>(i) * width, x);
  }
}

template <typename T>
void launch_add_residual_and_bias(void* a, const void* b, const void* bias, int64_t values,
                                  int channels, cudaStream_t stream) {
  const int threads = 256;
  const auto vectors = static_cast<unsigned>(values / vector_width<T>);
  const unsigned lanes = static_cast<unsigned>(channels / vector_width<T>);
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>(8 * multiprocessors(), (vectors + threads - 1) / threads));
  add_residual_and_bias_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<T*>(a), static_cast<const T*>(b), static_cast<const T*>(bias), vectors, lanes);
  check(cudaGetLastError(), "add residual and bias");
}

// ---- GEGLU ----

template <typename T>
__global__ void geglu_kernel(const T* __restrict__ input, T* __restrict__ output, int64_t rows,
                             int64_t columns) {
  constexpr int width = vector_width<T>;
  const int64_t vectors = rows * columns / width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i * width / columns, column = i * width % columns;
    const T* in = input + row * 2 * columns + column;
    const auto value = load(in);
    const auto gate = load(in + columns);
    vector<T> result;
#pragma unroll
    for (int v = 0; v < width; ++v)
      result.values[v] =
          convert<T>::out(convert<T>::in(value.values[v]) * gelu(convert<T>::in(gate.values[v])));
    store(output + row * columns + column, result);
  }
}

template <typename T>
void launch_geglu(const void* input, void* output, int64_t rows, int64_t columns,
                  cudaStream_t stream) {
  const int threads = 256;
  const int64_t vectors = rows * columns / vector_width<T>;
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>(8 * multiprocessors(), (vectors + threads - 1) / threads));
  geglu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<const T*>(input), static_cast<T*>(output), rows, columns);
  check(cudaGetLastError(), "geglu");
}

// ---- layer norm (+ residual) ----

constexpr int warp_size = 32;
constexpr int layer_norm_rows_per_block = 8;
// Vectors of 16 bytes per lane: a row of up to 32 x 12 vectors (3,072 half or 1,536 float values).
constexpr int layer_norm_max_per_lane = 12;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = warp_size / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T, int per_lane>
__global__ void layer_norm_kernel(T* __restrict__ x, const T* __restrict__ residual,
                                  const T* __restrict__ sum_bias, const T* __restrict__ gamma,
                                  const T* __restrict__ beta, T* __restrict__ output, int64_t rows,
                                  int columns, float eps) {
  constexpr int width = vector_width<T>;
  const int lane = threadIdx.x % warp_size;
  const int64_t row =
      blockIdx.x * static_cast<int64_t>(layer_norm_rows_per_block) + threadIdx.x / warp_size;
  if (row >= rows) return;
  const int vectors = columns / width;
  T* row_x = x + row * columns;
  float values[per_lane][width];
  float sum = 0.0f;
#pragma unroll
  for (int p = 0; p < per_lane; ++p) {
    const int i = lane + p * warp_size;
    if (i >= vectors) continue;
    auto a = load(row_x + i * width);
    if (residual) {
      const auto b = load(residual + row * columns + i * width);
#pragma unroll
      for (int v = 0; v < width; ++v)
        a.values[v] = convert<T>::out(convert<T>::in(a.values[v]) + convert<T>::in(b.values[v]));
      if (sum_bias) {
        const auto c = load(sum_bias + i * width);
        vector<T> biased;
#pragma unroll
        for (int v = 0; v < width; ++v)
          biased.values[v] =
              convert<T>::out(convert<T>::in(a.values[v]) + convert<T>::in(c.values[v]));
        store(row_x + i * width, biased);
      } else {
        store(row_x + i * width, a);
      }
    }
#pragma unroll
    for (int v = 0; v < width; ++v) {
      values[p][v] = convert<T>::in(a.values[v]);
      sum += values[p][v];
    }
  }
  const float mean = warp_sum(sum) / columns;
  float squares = 0.0f;
#pragma unroll
  for (int p = 0; p < per_lane; ++p) {
    if (lane + p * warp_size >= vectors) continue;
#pragma unroll
    for (int v = 0; v < width; ++v) {
      const float d = values[p][v] - mean;
      squares += d * d;
    }
  }
  const float rstd = rsqrtf(warp_sum(squares) / columns + eps);
#pragma unroll
  for (int p = 0; p < per_lane; ++p) {
    const int i = lane + p * warp_size;
    if (i >= vectors) continue;
    vector<T> weight{}, bias{}, out;
    if (gamma) weight = load(gamma + i * width);
    if (beta) bias = load(beta + i * width);
#pragma unroll
    for (int v = 0; v < width; ++v) {
      float y = (values[p][v] - mean) * rstd;
      if (gamma) y *= convert<T>::in(weight.values[v]);
      if (beta) y += convert<T>::in(bias.values[v]);
      out.values[v] = convert<T>::out(y);
    }
    store(output + row * columns + i * width, out);
  }
}

template <typename T, int per_lane>
void launch_layer_norm_for(void* x, const void* residual, const void* sum_bias, const void* gamma,
                           const void* beta, void* output, int64_t rows, int columns, float eps,
                           cudaStream_t stream) {
  const int64_t blocks = (rows + layer_norm_rows_per_block - 1) / layer_norm_rows_per_block;
  layer_norm_kernel<T, per_lane>
      <<<static_cast<unsigned>(blocks), layer_norm_rows_per_block * warp_size, 0, stream>>>(
          static_cast<T*>(x), static_cast<const T*>(residual), static_cast<const T*>(sum_bias),
          static_cast<const T*>(gamma), static_cast<const T*>(beta), static_cast<T*>(output), rows,
          columns, eps);
  check(cudaGetLastError(), "layer norm");
}

template <typename T>
void launch_layer_norm(void* x, const void* residual, const void* sum_bias, const void* gamma,
                       const void* beta, void* output, int64_t rows, int columns, float eps,
                       cudaStream_t stream) {
  const int per_lane = (columns / vector_width<T> + warp_size - 1) / warp_size;
  // Compiled for the widths a row of the UNets' channel counts needs, rounded up.
#define MUSE_LAYER_NORM_CASE(n)                                                                   \
  if (per_lane <= n)                                                                              \
    return launch_layer_norm_for<T, n>(x, residual, sum_bias, gamma, beta, output, rows, columns, \
                                       eps, stream);
  MUSE_LAYER_NORM_CASE(1)
  MUSE_LAYER_NORM_CASE(2)
  MUSE_LAYER_NORM_CASE(3)
  MUSE_LAYER_NORM_CASE(4)
  MUSE_LAYER_NORM_CASE(5)
  MUSE_LAYER_NORM_CASE(6)
  MUSE_LAYER_NORM_CASE(8)
  MUSE_LAYER_NORM_CASE(10)
  MUSE_LAYER_NORM_CASE(12)
#undef MUSE_LAYER_NORM_CASE
  throw std::runtime_error("layer norm: " + std::to_string(columns) + " columns is too wide");
}

// ---- nearest upsampling by 2 ----

template <typename T>
__global__ void upsample_nearest_2x_kernel(const T* __restrict__ input, T* __restrict__ output,
                                           int64_t vectors, int64_t height, int64_t width,
                                           int64_t lanes) {
  constexpr int width_in_values = vector_width<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes, pixel = i / lanes;
    const int64_t x = pixel % width, y = (pixel / width) % height, image = pixel / (width * height);
    const auto value = load(input + i * width_in_values);
    const int64_t row = (image * 2 * height + 2 * y) * 2 * width + 2 * x;
    T* out = output + (row * lanes + lane) * width_in_values;
    const int64_t next_pixel = lanes * width_in_values, next_row = 2 * width * next_pixel;
    store(out, value);
    store(out + next_pixel, value);
    store(out + next_row, value);
    store(out + next_row + next_pixel, value);
  }
}

template <typename T>
void launch_upsample_nearest_2x(const void* input, void* output, int64_t images, int64_t height,
                                int64_t width, int channels, cudaStream_t stream) {
  const int threads = 256;
  const int64_t lanes = channels / vector_width<T>;
  const int64_t vectors = images * height * width * lanes;
  if (vectors == 0) return;
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>(8 * multiprocessors(), (vectors + threads - 1) / threads));
  upsample_nearest_2x_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<const T*>(input), static_cast<T*>(output), vectors, height, width, lanes);
  check(cudaGetLastError(), "upsample nearest 2x");
}

// ---- channel concatenation ----

template <typename T>
__global__ void concat_channels_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                       T* __restrict__ output, unsigned vectors, unsigned lanes_a,
                                       unsigned lanes_b) {
  constexpr int width = vector_width<T>;
  const unsigned lanes = lanes_a + lanes_b;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors;
       i += gridDim.x * blockDim.x) {
    const unsigned pixel = i / lanes, lane = i % lanes;
    const T* from = lane < lanes_a
                        ? a + (static_cast<size_t>(pixel) * lanes_a + lane) * width
                        : b + (static_cast<size_t>(pixel) * lanes_b + lane - lanes_a) * width;
    store(output + static_cast<size_t>(i) * width, load(from));
  }
}

template <typename T>
void launch_concat_channels(const void* a, const void* b, void* output, int64_t pixels,
                            int channels_a, int channels_b, cudaStream_t stream) {
  const int threads = 256;
  const auto lanes_a = static_cast<unsigned>(channels_a / vector_width<T>),
             lanes_b = static_cast<unsigned>(channels_b / vector_width<T>);
  const int64_t vectors = pixels * (lanes_a + lanes_b);
  if (vectors == 0) return;
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>(8 * multiprocessors(), (vectors + threads - 1) / threads));
  concat_channels_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(output),
      static_cast<unsigned>(vectors), lanes_a, lanes_b);
  check(cudaGetLastError(), "concat channels");
}

template <template <typename> class launcher, typename... Args>
void dispatch(element_type type, Args&&... args) {
  switch (type) {
    case element_type::float32:
      return launcher<float>::run(std::forward<Args>(args)...);
    case element_type::float16:
      return launcher<__half>::run(std::forward<Args>(args)...);
    case element_type::bfloat16:
      return launcher<__nv_bfloat16>::run(std::forward<Args>(args)...);
  }
}

template <typename T>
struct group_norm_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_group_norm<T>(std::forward<Args>(args)...);
  }
};
template <typename T>
struct residual_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_add_residual_and_bias<T>(std::forward<Args>(args)...);
  }
};
template <typename T>
struct geglu_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_geglu<T>(std::forward<Args>(args)...);
  }
};

template <typename T>
struct layer_norm_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_layer_norm<T>(std::forward<Args>(args)...);
  }
};

template <typename T>
struct upsample_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_upsample_nearest_2x<T>(std::forward<Args>(args)...);
  }
};

template <typename T>
struct concat_launcher {
  template <typename... Args>
  static void run(Args&&... args) {
    launch_concat_channels<T>(std::forward<Args>(args)...);
  }
};

template <typename T>
struct layout_launcher {
  static void run(int channels, block_layout& out) { out = layout_for<T>(channels); }
};

block_layout layout_of(element_type type, int channels) {
  block_layout layout;
  dispatch<layout_launcher>(type, channels, layout);
  return layout;
}

template <typename T>
struct width_launcher {
  static void run(int& out) { out = vector_width<T>; }
};

}  // namespace

bool group_norm_supported(element_type type, const group_norm_shape& s) {
  if (s.images <= 0 || s.pixels <= 0 || s.groups <= 0 || s.channels % 8 != 0 ||
      s.channels % s.groups != 0 || s.pixels * s.channels >= (int64_t{1} << 31))
    return false;
  // Up to max_threads lanes of 16 bytes: the statistics' shared memory stays within 48 KiB.
  return layout_of(type, s.channels).lanes <= max_threads;
}

size_t group_norm_workspace_floats(element_type type, const group_norm_shape& s) {
  const int64_t splits = splits_for(s, layout_of(type, s.channels).rows);
  return static_cast<size_t>(s.images * splits * s.groups * 2);
}

void group_norm_nhwc(element_type type, const void* input, const void* addend, const void* gamma,
                     const void* beta, void* output, const group_norm_shape& shape, float eps,
                     bool silu, float* workspace, cudaStream_t stream) {
  dispatch<group_norm_launcher>(type, input, addend, gamma, beta, output, shape, eps, silu,
                                workspace, stream);
}

void add_residual_and_bias(element_type type, void* a, const void* b, const void* bias,
                           int64_t values, int channels, cudaStream_t stream) {
  dispatch<residual_launcher>(type, a, b, bias, values, channels, stream);
}

void geglu(element_type type, const void* input, void* output, int64_t rows, int64_t columns,
           cudaStream_t stream) {
  dispatch<geglu_launcher>(type, input, output, rows, columns, stream);
}

bool layer_norm_supported(element_type type, int64_t columns) {
  int width = 0;
  dispatch<width_launcher>(type, width);
  return columns > 0 && columns % width == 0 &&
         columns / width <= int64_t{warp_size} * layer_norm_max_per_lane;
}

void layer_norm(element_type type, void* x, const void* residual, const void* sum_bias,
                const void* gamma, const void* beta, void* output, int64_t rows, int columns,
                float eps, cudaStream_t stream) {
  if (rows <= 0) return;
  dispatch<layer_norm_launcher>(type, x, residual, sum_bias, gamma, beta, output, rows, columns,
                                eps, stream);
}

bool upsample_nearest_2x_supported(element_type type, int channels) {
  int width = 0;
  dispatch<width_launcher>(type, width);
  return channels > 0 && channels % width == 0;
}

void upsample_nearest_2x(element_type type, const void* input, void* output, int64_t images,
                         int64_t height, int64_t width, int channels, cudaStream_t stream) {
  dispatch<upsample_launcher>(type, input, output, images, height, width, channels, stream);
}

bool concat_channels_supported(element_type type, int64_t pixels, int channels_a, int channels_b) {
  int width = 0;
  dispatch<width_launcher>(type, width);
  return channels_a > 0 && channels_b > 0 && channels_a % width == 0 && channels_b % width == 0 &&
         pixels * ((channels_a + channels_b) / width) < (int64_t{1} << 32);
}

void concat_channels(element_type type, const void* a, const void* b, void* output, int64_t pixels,
                     int channels_a, int channels_b, cudaStream_t stream) {
  dispatch<concat_launcher>(type, a, b, output, pixels, channels_a, channels_b, stream);
}

}  // namespace muse::model::cuda
