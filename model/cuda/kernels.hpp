#pragma once
// Fused CUDA kernels for the memory-bound steps of the UNet and VAE, on raw device pointers so that
// this header and kernels.cu need neither libtorch nor its compile time. fused_ops.cpp is the
// libtorch-facing side. Every kernel computes in float32 and rounds once on the way out.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace muse::model::cuda {

enum class element_type { float32, float16, bfloat16 };

// Group normalisation (optionally followed by SiLU) of an NHWC tensor: `images` x `pixels` x
// `channels`, channels innermost (libtorch's channels_last), of input + addend where `addend`
// holds one value per image and channel (or is null): the resnet's time embedding, added here
// instead of in a pass of its own. gamma and beta hold `channels` values of the same element type
// (or are null for no affine). The statistics are summed in a fixed order, so the result does not
// depend on timing.
struct group_norm_shape {
  int64_t images = 0;
  int64_t pixels = 0;
  int channels = 0;
  int groups = 0;
};

// False where the kernel does not apply (channels not a multiple of 8 and of `groups`, more than
// 512 16-byte slices of channels, or 2^31 values an image); the caller then uses the unfused path.
bool group_norm_supported(element_type type, const group_norm_shape& shape);
// The float32 scratch space one call needs (per-block partial sums; nothing carries over).
size_t group_norm_workspace_floats(element_type type, const group_norm_shape& shape);

void group_norm_nhwc(element_type type, const void* input, const void* addend, const void* gamma,
                     const void* beta, void* output, const group_norm_shape& shape, float eps,
                     bool silu, float* workspace, cudaStream_t stream);

// a += b + bias, NHWC: `a` and `b` (b may be null) hold `values` elements, `bias` (may be null)
// one per channel, channels innermost. A resnet's output: its last convolution (run without its
// bias), its shortcut, and the bias, in one pass. values / 8 and channels multiples of 8.
void add_residual_and_bias(element_type type, void* a, const void* b, const void* bias,
                           int64_t values, int channels, cudaStream_t stream);

// GEGLU: `input` is rows x (2 * columns) row-major; output[r][c] = input[r][c] *
// gelu(input[r][columns + c]) with the exact (erf) GELU. columns must be a multiple of 8.
void geglu(element_type type, const void* input, void* output, int64_t rows, int64_t columns,
           cudaStream_t stream);

// Layer normalisation over the last dimension of `rows` x `columns` row-major values. With a
// `residual` (same shape), the input is x + residual: the sum is rounded to the element type and
// written back to `x` (a transformer block's residual stream), and `output` gets the normalised
// sum; the add costs no pass of its own. `sum_bias` (`columns` values, or null; only with a
// residual) is added to what is written back, not to what is normalised: the bias of the layer
// whose product is later added onto the stream. gamma and beta: `columns` values (or null). One
// warp per row with the row in registers; the statistics are reduced in a fixed order.
bool layer_norm_supported(element_type type, int64_t columns);
void layer_norm(element_type type, void* x, const void* residual, const void* sum_bias,
                const void* gamma, const void* beta, void* output, int64_t rows, int columns,
                float eps, cudaStream_t stream);

// Nearest-neighbour upsampling by 2 of an NHWC tensor: `images` x `height` x `width` x `channels`
// into `images` x 2`height` x 2`width` x `channels`, each input value copied to its four outputs.
// channels must be a multiple of 16 bytes' worth of elements.
bool upsample_nearest_2x_supported(element_type type, int channels);
void upsample_nearest_2x(element_type type, const void* input, void* output, int64_t images,
                         int64_t height, int64_t width, int channels, cudaStream_t stream);

// Concatenation along the channels of two NHWC tensors with the same `pixels` (images x height
// x width): output pixel p holds a's `channels_a` values, then b's `channels_b`. Both channel
// counts must be multiples of 16 bytes' worth of elements (a UNet's skip connection).
bool concat_channels_supported(element_type type, int64_t pixels, int channels_a, int channels_b);
void concat_channels(element_type type, const void* a, const void* b, void* output, int64_t pixels,
                     int channels_a, int channels_b, cudaStream_t stream);

}  // namespace muse::model::cuda
