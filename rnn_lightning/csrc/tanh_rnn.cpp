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

// out[r][:] = init[r][:] + in[r][:] @ matrix for R rows of width H: a tiny matrix product whose R x H
// accumulators stay in registers. R independent rows keep the FMA pipeline busy (one row alone is a chain
// of H dependent FMAs). H and R are compile-time constants, so every loop unrolls.
template <typename scalar_t, int H, int R>
inline void rows_times_matrix(scalar_t* __restrict out, const scalar_t* __restrict init,
                              const scalar_t* __restrict in, const scalar_t* __restrict matrix) {
  scalar_t acc[R][H];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < H; ++j) acc[r][j] = init[r * H + j];
  for (int k = 0; k < H; ++k)
    for (int r = 0; r < R; ++r) {
      const scalar_t a = in[r * H + k];
      for (int j = 0; j < H; ++j) acc[r][j] += a * matrix[k * H + j];
    }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < H; ++j) out[r * H + j] = acc[r][j];
}

// The same for a width known only at run time, one row at a time.
template <typename scalar_t>
inline void row_times_matrix(scalar_t* __restrict out, const scalar_t* __restrict init,
                             const scalar_t* __restrict in, const scalar_t* __restrict matrix, int64_t hidden) {
  for (int64_t j = 0; j < hidden; ++j) out[j] = init[j];
  for (int64_t k = 0; k < hidden; ++k) {
    const scalar_t a = in[k];
    for (int64_t j = 0; j < hidden; ++j) out[j] += a * matrix[k * hidden + j];
  }
}

// Forward over rows [begin, end) of the batch, R at a time: z (T, B, H) holds the input projections and
// becomes h in place; the previous step's h is read where it was written, so no separate state is kept.
template <typename scalar_t, int H, int R>
void forward_rows(scalar_t* z, const scalar_t* weight_t, const scalar_t* mask, int64_t steps, int64_t batch,
                  int64_t hidden, int64_t begin, int64_t end) {
  std::vector<scalar_t> scratch(R * hidden);
  for (int64_t b = begin; b < end; b += R) {
    const int64_t rows = std::min<int64_t>(R, end - b);
    for (int64_t t = 0; t < steps; ++t) {
      scalar_t* current = z + (t * batch + b) * hidden;
      if (t > 0) {
        const scalar_t* previous = z + ((t - 1) * batch + b) * hidden;
        if (H > 0 && rows == R) {
          rows_times_matrix<scalar_t, (H > 0 ? H : 1), R>(scratch.data(), current, previous, weight_t);
          std::copy(scratch.begin(), scratch.begin() + R * hidden, current);
        } else {
          for (int64_t r = 0; r < rows; ++r) {
            row_times_matrix(scratch.data(), current + r * hidden, previous + r * hidden, weight_t, hidden);
            std::copy(scratch.begin(), scratch.begin() + hidden, current + r * hidden);
          }
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        scalar_t* __restrict row = current + r * hidden;
        const scalar_t keep = mask ? mask[t * batch + b + r] : scalar_t(1);
        for (int64_t j = 0; j < hidden; ++j) row[j] = fast_tanh(row[j]) * keep;
      }
    }
  }
}

// Backward over rows [begin, end): the gradient w.r.t. the pre-activations, from h and the output gradient.
template <typename scalar_t, int H, int R>
void backward_rows(const scalar_t* h, const scalar_t* weight, const scalar_t* mask, const scalar_t* grad_output,
                   bool last_only, scalar_t* grad_pre, int64_t steps, int64_t batch, int64_t hidden, int64_t begin,
                   int64_t end) {
  std::vector<scalar_t> carried(R * hidden), zeros(R * hidden, scalar_t(0));
  for (int64_t b = begin; b < end; b += R) {
    const int64_t rows = std::min<int64_t>(R, end - b);
    const scalar_t* last = grad_output + (last_only ? b : ((steps - 1) * batch + b)) * hidden;
    std::copy(last, last + rows * hidden, carried.begin());
    for (int64_t t = steps - 1; t >= 0; --t) {
      scalar_t* g = grad_pre + (t * batch + b) * hidden;
      const scalar_t* ht = h + (t * batch + b) * hidden;
      for (int64_t r = 0; r < rows; ++r) {
        const scalar_t keep = mask ? mask[t * batch + b + r] : scalar_t(1);
        scalar_t* __restrict gr = g + r * hidden;
        const scalar_t* __restrict hr = ht + r * hidden;
        const scalar_t* __restrict cr = carried.data() + r * hidden;
        for (int64_t j = 0; j < hidden; ++j) gr[j] = cr[j] * (scalar_t(1) - hr[j] * hr[j]) * keep;
      }
      if (t == 0) break;
      // carried = grad_output[t-1] (nothing with last_only) + g @ W_hh.
      const scalar_t* init = last_only ? zeros.data() : grad_output + ((t - 1) * batch + b) * hidden;
      if (H > 0 && rows == R) {
        rows_times_matrix<scalar_t, (H > 0 ? H : 1), R>(carried.data(), init, g, weight);
      } else {
        for (int64_t r = 0; r < rows; ++r)
          row_times_matrix(carried.data() + r * hidden, init + r * hidden, g + r * hidden, weight, hidden);
      }
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

// Rows per task: a few reviews each, so that both cores get work and each keeps W_hh in cache.
constexpr int64_t kGrain = 8;
// Rows advanced together through a step (see rows_times_matrix).
constexpr int kRows = 4;

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
      if (hidden == 32) {
        forward_rows<scalar_t, 32, kRows>(data, w, m, steps, batch, hidden, begin, end);
      } else {
        forward_rows<scalar_t, 0, 1>(data, w, m, steps, batch, hidden, begin, end);
      }
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
      if (hidden == 32) {
        backward_rows<scalar_t, 32, kRows>(hd, w, m, go, last_only, gp, steps, batch, hidden, begin, end);
      } else {
        backward_rows<scalar_t, 0, 1>(hd, w, m, go, last_only, gp, steps, batch, hidden, begin, end);
      }
    });
  });
  return grad_pre;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_", &forward_, "tanh RNN recurrence over input projections, in place");
  m.def("backward", &backward, "gradient of the tanh RNN recurrence w.r.t. its pre-activations");
}
