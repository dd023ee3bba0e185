// The recurrence of a tanh RNN layer, forward and backward, as one compiled loop per layer.
//
// Python computes everything that is one large matrix product (input projections, weight gradients);
// this file does only what must go step by step: h_t = tanh(z_t + h_{t-1} W_hh^T) and its gradient.
// Reviews are independent, so the batch is split across threads; each thread walks its rows through all
// time steps with W_hh in cache. Float32 uses a vectorisable tanh (Cephes' polynomial and exp, within a
// few ulp of libm); float64 uses std::tanh, so gradcheck sees exact arithmetic.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include <algorithm>
#include <type_traits>

namespace {

inline float bits_to_float(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Cephes expf, branch-free so that loops over it vectorise; valid for x <= 0 (all tanh needs).
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  return y * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
}

// Cephes tanhf: an odd polynomial near zero, 1 - 2 / (exp(2|x|) + 1) beyond, both computed and one chosen.
inline float fast_tanh(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  const float small =
      ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
       3.33332819422e-1f) * z * x + x;
  const float e = exp_nonpositive(-2.0f * ax);  // exp(-2|x|) in (0, 1]: no overflow
  const float large = (1.0f - e) / (1.0f + e);
  const float signed_large = x < 0.0f ? -large : large;
  return ax < 0.625f ? small : signed_large;
}

inline double fast_tanh(double x) { return std::tanh(x); }

// out = init + in @ matrix for a block of rows of width `hidden`, `matrix` being (hidden, hidden).
//
// Generic version: any width and type, one row at a time.
template <typename scalar_t>
inline void rows_times_matrix(scalar_t* out, const scalar_t* init, const scalar_t* in, const scalar_t* matrix,
                              int64_t rows, int64_t hidden) {
  for (int64_t r = 0; r < rows; ++r) {
    scalar_t* __restrict o = out + r * hidden;
    const scalar_t* __restrict x = in + r * hidden;
    for (int64_t j = 0; j < hidden; ++j) o[j] = init[r * hidden + j];
    for (int64_t k = 0; k < hidden; ++k) {
      const scalar_t a = x[k];
      const scalar_t* __restrict m = matrix + k * hidden;
      for (int64_t j = 0; j < hidden; ++j) o[j] += a * m[j];
    }
  }
}

// Float32, the study's width of 32 and kRows rows: the kRows x 32 accumulators live in vector registers
// (GCC/Clang vector types: 8 floats each, which every x86-64 CPU with AVX and the compiler's fallback for
// others handle), and kRows independent rows keep the multiply-add units busy where one row alone would
// wait on its own chain of 32 dependent multiply-adds.
typedef float float8 __attribute__((vector_size(32)));
constexpr int kRows = 4;
constexpr int kWidth = 32;
constexpr int kVectors = kWidth / 8;

inline void block_times_matrix(float* out, const float* init, const float* in, const float* matrix) {
  float8 acc[kRows][kVectors];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) std::memcpy(&acc[r][v], init + r * kWidth + v * 8, sizeof(float8));
#pragma GCC unroll 4
  for (int k = 0; k < kWidth; ++k) {
    float8 m[kVectors];
    for (int v = 0; v < kVectors; ++v) std::memcpy(&m[v], matrix + k * kWidth + v * 8, sizeof(float8));
    for (int r = 0; r < kRows; ++r) {
      const float a = in[r * kWidth + k];
      for (int v = 0; v < kVectors; ++v) acc[r][v] += a * m[v];
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) std::memcpy(out + r * kWidth + v * 8, &acc[r][v], sizeof(float8));
}

template <typename scalar_t>
inline void block_step(scalar_t* out, const scalar_t* init, const scalar_t* in, const scalar_t* matrix,
                       int64_t rows, int64_t hidden) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (rows == kRows && hidden == kWidth) {
      block_times_matrix(out, init, in, matrix);
      return;
    }
  }
  rows_times_matrix(out, init, in, matrix, rows, hidden);
}

template <typename scalar_t>
inline void tanh_rows(scalar_t* __restrict row, scalar_t keep, int64_t hidden) {
  for (int64_t j = 0; j < hidden; ++j) row[j] = fast_tanh(row[j]) * keep;
}

template <typename scalar_t>
inline void tanh_grad_rows(scalar_t* __restrict g, const scalar_t* __restrict carried,
                           const scalar_t* __restrict h, scalar_t keep, int64_t hidden) {
  for (int64_t j = 0; j < hidden; ++j) g[j] = carried[j] * (scalar_t(1) - h[j] * h[j]) * keep;
}

// Forward over rows [begin, end) of the batch, kRows at a time: z (T, B, H) holds the input projections and
// becomes h in place; the previous step's h is read where it was written, so no state is kept apart.
template <typename scalar_t>
void forward_rows(scalar_t* z, const scalar_t* weight_t, const scalar_t* mask, int64_t steps, int64_t batch,
                  int64_t hidden, int64_t begin, int64_t end) {
  std::vector<scalar_t> sum(kRows * hidden);
  for (int64_t b = begin; b < end; b += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, end - b);
    for (int64_t t = 0; t < steps; ++t) {
      scalar_t* current = z + (t * batch + b) * hidden;
      if (t > 0) {
        block_step(sum.data(), current, z + ((t - 1) * batch + b) * hidden, weight_t, rows, hidden);
        std::copy(sum.begin(), sum.begin() + rows * hidden, current);
      }
      for (int64_t r = 0; r < rows; ++r)
        tanh_rows(current + r * hidden, mask ? mask[t * batch + b + r] : scalar_t(1), hidden);
    }
  }
}

// Backward over rows [begin, end): the gradient w.r.t. the pre-activations, from h and the output gradient.
template <typename scalar_t>
void backward_rows(const scalar_t* h, const scalar_t* weight, const scalar_t* mask, const scalar_t* grad_output,
                   bool last_only, scalar_t* grad_pre, int64_t steps, int64_t batch, int64_t hidden, int64_t begin,
                   int64_t end) {
  std::vector<scalar_t> carried(kRows * hidden), zeros(kRows * hidden, scalar_t(0));
  for (int64_t b = begin; b < end; b += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, end - b);
    const scalar_t* last = grad_output + (last_only ? b : ((steps - 1) * batch + b)) * hidden;
    std::copy(last, last + rows * hidden, carried.begin());
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t at = (t * batch + b) * hidden;
      for (int64_t r = 0; r < rows; ++r)
        tanh_grad_rows(grad_pre + at + r * hidden, carried.data() + r * hidden, h + at + r * hidden,
                       mask ? mask[t * batch + b + r] : scalar_t(1), hidden);
      if (t == 0) break;
      // carried = grad_output[t-1] (nothing with last_only) + g_t @ W_hh.
      const scalar_t* init = last_only ? zeros.data() : grad_output + ((t - 1) * batch + b) * hidden;
      block_step(carried.data(), init, grad_pre + at, weight, rows, hidden);
    }
  }
}

void check(const torch::Tensor& z, const torch::Tensor& weight, const c10::optional<torch::Tensor>& mask) {
  TORCH_CHECK(z.device().is_cpu() && z.dim() == 3 && z.is_contiguous(), "z must be a contiguous (T, B, H) CPU tensor");
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == z.size(2) && weight.size(1) == z.size(2),
              "weight_hh must be (H, H)");
  TORCH_CHECK(weight.scalar_type() == z.scalar_type(), "weight_hh and z must have one dtype");
  if (mask) {
    TORCH_CHECK(mask->is_contiguous() && mask->numel() == z.size(0) * z.size(1) &&
                    mask->scalar_type() == z.scalar_type(),
                "mask must be a contiguous (T, B) tensor of z's dtype");
  }
}

// Rows per task: a few blocks each, so that every core gets work and each keeps W_hh in cache.
constexpr int64_t kGrain = 2 * kRows;

}  // namespace

// h = tanh recurrence over the input projections z (T, B, H), in place; returns z.
torch::Tensor forward_(torch::Tensor z, const torch::Tensor& weight_hh, const c10::optional<torch::Tensor>& mask) {
  check(z, weight_hh, mask);
  const auto weight_t = weight_hh.t().contiguous();
  const int64_t steps = z.size(0), batch = z.size(1), hidden = z.size(2);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "tanh_rnn_forward", [&] {
    scalar_t* data = z.data_ptr<scalar_t>();
    const scalar_t* w = weight_t.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      forward_rows<scalar_t>(data, w, m, steps, batch, hidden, begin, end);
    });
  });
  return z;
}

// Gradient w.r.t. the pre-activations z, from the layer's outputs h and the gradient of its output
// (every step's (T, B, H), or with last_only the final state's (B, H)).
torch::Tensor backward(const torch::Tensor& h, const torch::Tensor& weight_hh,
                       const c10::optional<torch::Tensor>& mask, const torch::Tensor& grad_output, bool last_only) {
  check(h, weight_hh, mask);
  const auto weight = weight_hh.contiguous();
  const auto grad = grad_output.contiguous();
  const int64_t steps = h.size(0), batch = h.size(1), hidden = h.size(2);
  TORCH_CHECK(grad.numel() == (last_only ? batch * hidden : h.numel()) && grad.scalar_type() == h.scalar_type(),
              "grad_output does not match the layer's output");
  auto grad_pre = torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "tanh_rnn_backward", [&] {
    const scalar_t* hd = h.data_ptr<scalar_t>();
    const scalar_t* w = weight.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    const scalar_t* go = grad.data_ptr<scalar_t>();
    scalar_t* gp = grad_pre.data_ptr<scalar_t>();
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      backward_rows<scalar_t>(hd, w, m, go, last_only, gp, steps, batch, hidden, begin, end);
    });
  });
  return grad_pre;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_", &forward_, "tanh RNN recurrence over input projections, in place");
  m.def("backward", &backward, "gradient of the tanh RNN recurrence w.r.t. its pre-activations");
}
