// The recurrences of tanh RNN, LSTM and GRU layers, forward and backward, as one compiled loop per layer.
//
// Python computes everything that is one large matrix product (input projections, weight gradients);
// this file does only what must go step by step: h_t = tanh(z_t + h_{t-1} W_hh^T) and its gradient, and
// the LSTM's and GRU's gates and states and theirs.
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

// x86-64 without AVX-512 has 16 (SSE, AVX2); a build for another target may say otherwise.
#ifndef RNN_LIGHTNING_VECTOR_REGISTERS
#define RNN_LIGHTNING_VECTOR_REGISTERS 16
#endif

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

// Float32 and the study's widths: kRows rows of In inputs times an (In, Out) matrix, running sums held in vector
// registers (GCC/Clang vector types of 8 floats, which every x86-64 compiler lowers to AVX or SSE, and other
// targets to what they have). Independent rows and columns keep the multiply-add units busy where one sum alone
// would wait on its own chain of In dependent multiply-adds.
//
// How many sums a block holds is the instruction set's choice, made when the library is built (-march=native):
// a block's sums, its slice of the matrix row and the broadcast input must all stay in vector registers. AVX-512
// has 32 (4 rows x 32 units fit: 16 sums, 4 matrix vectors, 1 input); AVX2 has 16, where that block spilled to
// memory at every step (forward 4x slower, measured). There the columns are taken in slices that fit.
typedef float float8 __attribute__((vector_size(32)));
constexpr int kWidth = 32;  // the study's units per layer: the widths the vector kernels are built for
constexpr int kRows = 4;    // rows a tanh RNN step advances together
// Rows an LSTM or GRU forward step advances together (their gates make 3 or 4 times the columns): two rows keep
// both multiply-add units busy where one row's sums wait on their own chains.
#ifndef RNN_LIGHTNING_GATED_ROWS
#define RNN_LIGHTNING_GATED_ROWS 2
#endif
constexpr int kGatedRows = RNN_LIGHTNING_GATED_ROWS;
#if defined(__AVX512F__)
constexpr int kVectorRegisters = 32;
#else
constexpr int kVectorRegisters = RNN_LIGHTNING_VECTOR_REGISTERS;
#endif

// Vectors of 8 columns per slice: the most whose sums (one set per row), matrix vectors and broadcast input fit
// in the vector registers, among those that tile the columns.
constexpr int slice_vectors(int columns, int rows) {
  int vectors = std::max(1, std::min(columns / 8, (kVectorRegisters - 1) / (rows + 1)));
  while ((columns / 8) % vectors != 0) --vectors;
  return vectors;
}

template <int In, int Out, int Rows>
inline void block_times_matrix(float* out, const float* init, const float* in, const float* matrix) {
  constexpr int kSliceVectors = slice_vectors(Out, Rows);
  static_assert(Out % (8 * kSliceVectors) == 0, "the slices must tile the columns");
  // Every loop but the one over the inputs is unrolled completely, so that the sums are registers, not an array
  // in memory (GCC otherwise keeps them on the stack for some shapes: the LSTM's forward ran 7x slower on AVX2).
#pragma GCC unroll 16
  for (int slice = 0; slice < Out; slice += 8 * kSliceVectors) {
    float8 acc[Rows][kSliceVectors];
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < kSliceVectors; ++v)
        std::memcpy(&acc[r][v], init + r * Out + slice + v * 8, sizeof(float8));
#pragma GCC unroll 4
    for (int k = 0; k < In; ++k) {
      float8 m[kSliceVectors];
#pragma GCC unroll 16
      for (int v = 0; v < kSliceVectors; ++v) std::memcpy(&m[v], matrix + k * Out + slice + v * 8, sizeof(float8));
#pragma GCC unroll 16
      for (int r = 0; r < Rows; ++r) {
        const float a = in[r * In + k];
#pragma GCC unroll 16
        for (int v = 0; v < kSliceVectors; ++v) acc[r][v] += a * m[v];
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < kSliceVectors; ++v)
        std::memcpy(out + r * Out + slice + v * 8, &acc[r][v], sizeof(float8));
  }
}

// Generic version: any widths and type, one row at a time.
template <typename scalar_t>
inline void rows_times_matrix(scalar_t* out, const scalar_t* init, const scalar_t* in, const scalar_t* matrix,
                              int64_t rows, int64_t in_width, int64_t out_width) {
  for (int64_t r = 0; r < rows; ++r) {
    scalar_t* __restrict o = out + r * out_width;
    const scalar_t* __restrict x = in + r * in_width;
    for (int64_t j = 0; j < out_width; ++j) o[j] = init[r * out_width + j];
    for (int64_t k = 0; k < in_width; ++k) {
      const scalar_t a = x[k];
      const scalar_t* __restrict m = matrix + k * out_width;
      for (int64_t j = 0; j < out_width; ++j) o[j] += a * m[j];
    }
  }
}

// out = init + in @ matrix for a block of rows: the vector kernel where it applies, else the generic loop.
template <typename scalar_t, int In, int Out, int Rows>
inline void block_step(scalar_t* out, const scalar_t* init, const scalar_t* in, const scalar_t* matrix,
                       int64_t rows, int64_t in_width, int64_t out_width) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (rows == Rows && in_width == In && out_width == Out) {
      block_times_matrix<In, Out, Rows>(out, init, in, matrix);
      return;
    }
  }
  rows_times_matrix(out, init, in, matrix, rows, in_width, out_width);
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
        block_step<scalar_t, kWidth, kWidth, kRows>(sum.data(), current, z + ((t - 1) * batch + b) * hidden,
                                                     weight_t, rows, hidden, hidden);
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
      block_step<scalar_t, kWidth, kWidth, kRows>(carried.data(), init, grad_pre + at, weight, rows, hidden, hidden);
    }
  }
}

// ------------------------------------------------------------------------------------------------ LSTM
// PyTorch's gate order: z = [i | f | g | o], each `hidden` wide. sigmoid(x) = (1 + tanh(x / 2)) / 2, so the
// one vectorisable tanh serves both.
template <typename scalar_t>
inline scalar_t fast_sigmoid(scalar_t x) {
  return scalar_t(0.5) * fast_tanh(scalar_t(0.5) * x) + scalar_t(0.5);
}

// One step of one row: activates the gates in place and writes the cell and hidden state.
template <typename scalar_t>
inline void lstm_cell(scalar_t* __restrict zi, scalar_t* __restrict zf, scalar_t* __restrict zg,
                      scalar_t* __restrict zo, const scalar_t* __restrict c_prev, scalar_t* __restrict c,
                      scalar_t* __restrict h, scalar_t keep, int64_t hidden) {
  for (int64_t j = 0; j < hidden; ++j) {
    const scalar_t i = fast_sigmoid(zi[j]), f = fast_sigmoid(zf[j]), g = fast_tanh(zg[j]), o = fast_sigmoid(zo[j]);
    zi[j] = i;
    zf[j] = f;
    zg[j] = g;
    zo[j] = o;
    // Padding steps (keep = 0) leave a zero state: with padding in front, exactly skipping it.
    c[j] = (f * c_prev[j] + i * g) * keep;
    h[j] = o * fast_tanh(c[j]) * keep;
  }
}

// The gradient of one step of one row w.r.t. its pre-activations; updates the carried cell gradient.
template <typename scalar_t>
inline void lstm_cell_grad(const scalar_t* __restrict gates, const scalar_t* __restrict c,
                           const scalar_t* __restrict c_prev, const scalar_t* __restrict dh_in,
                           scalar_t* __restrict dc, scalar_t* __restrict dz, scalar_t keep, int64_t hidden) {
  const scalar_t* gi = gates;
  const scalar_t* gf = gates + hidden;
  const scalar_t* gg = gates + 2 * hidden;
  const scalar_t* go = gates + 3 * hidden;
  for (int64_t j = 0; j < hidden; ++j) {
    const scalar_t i = gi[j], f = gf[j], g = gg[j], o = go[j];
    const scalar_t dh = dh_in[j] * keep;
    const scalar_t tc = fast_tanh(c[j]);
    const scalar_t dct = dc[j] * keep + dh * o * (scalar_t(1) - tc * tc);
    dz[j] = dct * g * i * (scalar_t(1) - i);
    dz[hidden + j] = dct * c_prev[j] * f * (scalar_t(1) - f);
    dz[2 * hidden + j] = dct * i * (scalar_t(1) - g * g);
    dz[3 * hidden + j] = dh * tc * o * (scalar_t(1) - o);
    dc[j] = dct * f;
  }
}

template <typename scalar_t>
void lstm_forward_rows(scalar_t* z, scalar_t* h, scalar_t* c, const scalar_t* weight_t, const scalar_t* mask,
                       int64_t steps, int64_t batch, int64_t hidden, int64_t begin, int64_t end) {
  const int64_t width = 4 * hidden;
  std::vector<scalar_t> sum(kGatedRows * width), zeros(hidden, scalar_t(0));
  for (int64_t b = begin; b < end; b += kGatedRows) {
    const int64_t rows = std::min<int64_t>(kGatedRows, end - b);
    for (int64_t t = 0; t < steps; ++t) {
      scalar_t* zt = z + (t * batch + b) * width;  // the block's rows are consecutive: (T, B, 4H)
      if (t > 0) {
        block_step<scalar_t, kWidth, 4 * kWidth, kGatedRows>(sum.data(), zt, h + ((t - 1) * batch + b) * hidden,
                                                             weight_t, rows, hidden, width);
        std::copy(sum.begin(), sum.begin() + rows * width, zt);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = t * batch + b + r;
        scalar_t* zr = z + row * width;
        const scalar_t* c_prev = t > 0 ? c + (row - batch) * hidden : zeros.data();
        lstm_cell(zr, zr + hidden, zr + 2 * hidden, zr + 3 * hidden, c_prev, c + row * hidden, h + row * hidden,
                  mask ? mask[row] : scalar_t(1), hidden);
      }
    }
  }
}

template <typename scalar_t>
void lstm_backward_rows(const scalar_t* gates, const scalar_t* c, const scalar_t* weight, const scalar_t* mask,
                        const scalar_t* grad_output, bool last_only, scalar_t* grad_pre, int64_t steps,
                        int64_t batch, int64_t hidden, int64_t begin, int64_t end) {
  const int64_t width = 4 * hidden;
  std::vector<scalar_t> dh(kRows * hidden), dc(kRows * hidden), zeros(kRows * hidden, scalar_t(0));
  for (int64_t b = begin; b < end; b += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, end - b);
    const scalar_t* last = grad_output + (last_only ? b : ((steps - 1) * batch + b)) * hidden;
    std::copy(last, last + rows * hidden, dh.begin());
    std::fill(dc.begin(), dc.end(), scalar_t(0));
    for (int64_t t = steps - 1; t >= 0; --t) {
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = t * batch + b + r;
        const scalar_t* c_prev = t > 0 ? c + (row - batch) * hidden : zeros.data();
        lstm_cell_grad(gates + row * width, c + row * hidden, c_prev, dh.data() + r * hidden, dc.data() + r * hidden,
                       grad_pre + row * width, mask ? mask[row] : scalar_t(1), hidden);
      }
      if (t == 0) break;
      // dh = grad_output[t-1] (nothing with last_only) + dz_t @ W_hh, for the block's rows at once.
      const scalar_t* init = last_only ? zeros.data() : grad_output + ((t - 1) * batch + b) * hidden;
      block_step<scalar_t, 4 * kWidth, kWidth, kRows>(dh.data(), init, grad_pre + (t * batch + b) * width, weight,
                                                      rows, width, hidden);
    }
  }
}

// ------------------------------------------------------------------------------------------------- GRU
// PyTorch's GRU: gates [r | z | n]; n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), h' = (1 - z) n + z h. The
// recurrent bias of n sits inside r's product, so the step needs the recurrent pre-activations apart from
// the input ones: zx (T, B, 3H) holds the input projections (with b_ih), and each step adds h W_hh^T + b_hh.

// One step of one row: gates (r, z, n activated) written over zx, hn = h W_hn + b_hn kept for backward.
template <typename scalar_t>
inline void gru_cell(scalar_t* __restrict xr, scalar_t* __restrict xz, scalar_t* __restrict xn,
                     const scalar_t* __restrict hr, const scalar_t* __restrict hz, const scalar_t* __restrict hn_in,
                     scalar_t* __restrict hn, const scalar_t* __restrict h_prev, scalar_t* __restrict h,
                     scalar_t keep, int64_t hidden) {
  for (int64_t j = 0; j < hidden; ++j) {
    const scalar_t r = fast_sigmoid(xr[j] + hr[j]), z = fast_sigmoid(xz[j] + hz[j]);
    const scalar_t n = fast_tanh(xn[j] + r * hn_in[j]);
    xr[j] = r;
    xz[j] = z;
    xn[j] = n;
    hn[j] = hn_in[j];
    h[j] = ((scalar_t(1) - z) * n + z * h_prev[j]) * keep;  // padding steps (keep = 0) leave a zero state
  }
}

// The gradients of one step of one row w.r.t. the input pre-activations (dx) and the recurrent ones (dh_pre),
// which differ in n only; dh carries in the gradient of h_t and leaves with the part that goes to h_{t-1}
// directly (through z), the part through W_hh being added by the caller.
template <typename scalar_t>
inline void gru_cell_grad(const scalar_t* __restrict gates, const scalar_t* __restrict hn,
                          const scalar_t* __restrict h_prev, scalar_t* __restrict dh, scalar_t* __restrict dx,
                          scalar_t* __restrict dh_pre, scalar_t keep, int64_t hidden) {
  const scalar_t* gr = gates;
  const scalar_t* gz = gates + hidden;
  const scalar_t* gn = gates + 2 * hidden;
  for (int64_t j = 0; j < hidden; ++j) {
    const scalar_t r = gr[j], z = gz[j], n = gn[j];
    const scalar_t d = dh[j] * keep;
    const scalar_t dn = d * (scalar_t(1) - z) * (scalar_t(1) - n * n);
    const scalar_t dr = dn * hn[j] * r * (scalar_t(1) - r);
    const scalar_t dz = d * (h_prev[j] - n) * z * (scalar_t(1) - z);
    dx[j] = dr;
    dx[hidden + j] = dz;
    dx[2 * hidden + j] = dn;
    dh_pre[j] = dr;
    dh_pre[hidden + j] = dz;
    dh_pre[2 * hidden + j] = dn * r;
    dh[j] = d * z;
  }
}

template <typename scalar_t>
void gru_forward_rows(scalar_t* zx, scalar_t* hn, scalar_t* h, const scalar_t* weight_t, const scalar_t* bias_hh,
                      const scalar_t* mask, int64_t steps, int64_t batch, int64_t hidden, int64_t begin,
                      int64_t end) {
  const int64_t width = 3 * hidden;
  std::vector<scalar_t> recurrent(kGatedRows * width), biases(kGatedRows * width), zeros(kGatedRows * hidden, 0);
  for (int64_t r = 0; r < kGatedRows; ++r) std::copy(bias_hh, bias_hh + width, biases.begin() + r * width);
  for (int64_t b = begin; b < end; b += kGatedRows) {
    const int64_t rows = std::min<int64_t>(kGatedRows, end - b);
    for (int64_t t = 0; t < steps; ++t) {
      const scalar_t* h_prev = t > 0 ? h + ((t - 1) * batch + b) * hidden : zeros.data();
      // recurrent = b_hh + h_{t-1} W_hh^T for the block's rows at once.
      block_step<scalar_t, kWidth, 3 * kWidth, kGatedRows>(recurrent.data(), biases.data(), h_prev, weight_t, rows,
                                                           hidden, width);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = t * batch + b + r;
        scalar_t* x = zx + row * width;
        const scalar_t* mine = recurrent.data() + r * width;
        gru_cell(x, x + hidden, x + 2 * hidden, mine, mine + hidden, mine + 2 * hidden, hn + row * hidden,
                 h_prev + r * hidden, h + row * hidden, mask ? mask[row] : scalar_t(1), hidden);
      }
    }
  }
}

template <typename scalar_t>
void gru_backward_rows(const scalar_t* gates, const scalar_t* hn, const scalar_t* h, const scalar_t* weight,
                       const scalar_t* mask, const scalar_t* grad_output, bool last_only, scalar_t* grad_x,
                       scalar_t* grad_h, int64_t steps, int64_t batch, int64_t hidden, int64_t begin, int64_t end) {
  const int64_t width = 3 * hidden;
  std::vector<scalar_t> dh(kRows * hidden), direct(kRows * hidden), zeros(kRows * hidden, scalar_t(0));
  for (int64_t b = begin; b < end; b += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, end - b);
    const scalar_t* last = grad_output + (last_only ? b : ((steps - 1) * batch + b)) * hidden;
    std::copy(last, last + rows * hidden, dh.begin());
    for (int64_t t = steps - 1; t >= 0; --t) {
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = t * batch + b + r;
        const scalar_t* h_prev = t > 0 ? h + (row - batch) * hidden : zeros.data();
        gru_cell_grad(gates + row * width, hn + row * hidden, h_prev, dh.data() + r * hidden, grad_x + row * width,
                      grad_h + row * width, mask ? mask[row] : scalar_t(1), hidden);
      }
      if (t == 0) break;
      // dh = (grad_output[t-1], nothing with last_only) + the direct part + dh_pre_t @ W_hh.
      for (int64_t i = 0; i < rows * hidden; ++i)
        direct[i] = dh[i] + (last_only ? scalar_t(0) : grad_output[((t - 1) * batch + b) * hidden + i]);
      block_step<scalar_t, 3 * kWidth, kWidth, kRows>(dh.data(), direct.data(), grad_h + (t * batch + b) * width,
                                                      weight, rows, width, hidden);
    }
  }
}

// z: (T, B, gates x H); weight_hh: (gates x H, H), as torch stores them (gates: 1 for the RNN, 4 for the LSTM).
void check(const torch::Tensor& z, const torch::Tensor& weight, const c10::optional<torch::Tensor>& mask,
           int64_t gates = 1) {
  TORCH_CHECK(z.device().is_cpu() && z.dim() == 3 && z.is_contiguous(), "z must be a contiguous (T, B, G*H) CPU tensor");
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == z.size(2) && weight.size(1) * gates == z.size(2),
              "weight_hh must be (G*H, H)");
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

// LSTM: z (T, B, 4H) holds the input projections and becomes the activated gates in place; returns {h, c}.
std::vector<torch::Tensor> lstm_forward_(torch::Tensor z, const torch::Tensor& weight_hh,
                                         const c10::optional<torch::Tensor>& mask) {
  check(z, weight_hh, mask, 4);
  const auto weight_t = weight_hh.t().contiguous();  // (H, 4H)
  const int64_t steps = z.size(0), batch = z.size(1), hidden = weight_hh.size(1);
  auto h = torch::empty({steps, batch, hidden}, z.options());
  auto c = torch::empty({steps, batch, hidden}, z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "lstm_forward", [&] {
    scalar_t* zd = z.data_ptr<scalar_t>();
    scalar_t* hd = h.data_ptr<scalar_t>();
    scalar_t* cd = c.data_ptr<scalar_t>();
    const scalar_t* w = weight_t.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      lstm_forward_rows<scalar_t>(zd, hd, cd, w, m, steps, batch, hidden, begin, end);
    });
  });
  return {h, c};
}

// LSTM: the gradient w.r.t. the pre-activations (T, B, 4H), from the activated gates, the cell states and
// the gradient of the layer's output (every step's h, or with last_only the final one).
torch::Tensor lstm_backward(const torch::Tensor& gates, const torch::Tensor& c, const torch::Tensor& weight_hh,
                            const c10::optional<torch::Tensor>& mask, const torch::Tensor& grad_output,
                            bool last_only) {
  check(gates, weight_hh, mask, 4);
  const auto weight = weight_hh.contiguous();
  const auto grad = grad_output.contiguous();
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = weight_hh.size(1);
  TORCH_CHECK(c.is_contiguous() && c.numel() == steps * batch * hidden, "c must be the (T, B, H) cell states");
  TORCH_CHECK(grad.numel() == (last_only ? batch * hidden : steps * batch * hidden) &&
                  grad.scalar_type() == gates.scalar_type(),
              "grad_output does not match the layer's output");
  auto grad_pre = torch::empty_like(gates);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    const scalar_t* gd = gates.data_ptr<scalar_t>();
    const scalar_t* cd = c.data_ptr<scalar_t>();
    const scalar_t* w = weight.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    const scalar_t* go = grad.data_ptr<scalar_t>();
    scalar_t* gp = grad_pre.data_ptr<scalar_t>();
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      lstm_backward_rows<scalar_t>(gd, cd, w, m, go, last_only, gp, steps, batch, hidden, begin, end);
    });
  });
  return grad_pre;
}

// GRU: zx (T, B, 3H) holds the input projections (with b_ih) and becomes the activated gates in place;
// returns {h, hn} (hn: the recurrent pre-activation of n, h W_hn + b_hn, which backward needs).
std::vector<torch::Tensor> gru_forward_(torch::Tensor zx, const torch::Tensor& weight_hh, const torch::Tensor& bias_hh,
                                        const c10::optional<torch::Tensor>& mask) {
  check(zx, weight_hh, mask, 3);
  const auto weight_t = weight_hh.t().contiguous();  // (H, 3H)
  const auto bias = bias_hh.contiguous();
  const int64_t steps = zx.size(0), batch = zx.size(1), hidden = weight_hh.size(1);
  TORCH_CHECK(bias.numel() == 3 * hidden && bias.scalar_type() == zx.scalar_type(), "bias_hh must be (3H,)");
  auto h = torch::empty({steps, batch, hidden}, zx.options());
  auto hn = torch::empty({steps, batch, hidden}, zx.options());
  AT_DISPATCH_FLOATING_TYPES(zx.scalar_type(), "gru_forward", [&] {
    scalar_t* zd = zx.data_ptr<scalar_t>();
    scalar_t* hd = h.data_ptr<scalar_t>();
    scalar_t* nd = hn.data_ptr<scalar_t>();
    const scalar_t* w = weight_t.data_ptr<scalar_t>();
    const scalar_t* bh = bias.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      gru_forward_rows<scalar_t>(zd, nd, hd, w, bh, m, steps, batch, hidden, begin, end);
    });
  });
  return {h, hn};
}

// GRU: the gradients w.r.t. the input pre-activations and the recurrent ones, each (T, B, 3H).
std::vector<torch::Tensor> gru_backward(const torch::Tensor& gates, const torch::Tensor& hn, const torch::Tensor& h,
                                        const torch::Tensor& weight_hh, const c10::optional<torch::Tensor>& mask,
                                        const torch::Tensor& grad_output, bool last_only) {
  check(gates, weight_hh, mask, 3);
  const auto weight = weight_hh.contiguous();
  const auto grad = grad_output.contiguous();
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = weight_hh.size(1);
  TORCH_CHECK(h.is_contiguous() && hn.is_contiguous() && h.numel() == steps * batch * hidden &&
                  hn.numel() == h.numel(),
              "h and hn must be the (T, B, H) outputs of gru_forward_");
  TORCH_CHECK(grad.numel() == (last_only ? batch * hidden : steps * batch * hidden) &&
                  grad.scalar_type() == gates.scalar_type(),
              "grad_output does not match the layer's output");
  auto grad_x = torch::empty_like(gates);
  auto grad_h = torch::empty_like(gates);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    const scalar_t* gd = gates.data_ptr<scalar_t>();
    const scalar_t* nd = hn.data_ptr<scalar_t>();
    const scalar_t* hd = h.data_ptr<scalar_t>();
    const scalar_t* w = weight.data_ptr<scalar_t>();
    const scalar_t* m = mask ? mask->data_ptr<scalar_t>() : nullptr;
    const scalar_t* go = grad.data_ptr<scalar_t>();
    scalar_t* gx = grad_x.data_ptr<scalar_t>();
    scalar_t* gh = grad_h.data_ptr<scalar_t>();
    at::parallel_for(0, batch, kGrain, [&](int64_t begin, int64_t end) {
      gru_backward_rows<scalar_t>(gd, nd, hd, w, m, go, last_only, gx, gh, steps, batch, hidden, begin, end);
    });
  });
  return {grad_x, grad_h};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // The recurrences touch no Python object: they let go of the GIL, as torch's own operators do, so that another
  // thread (prediction's encoding of the next batch) runs meanwhile instead of waiting for the whole stepping.
  using released = py::call_guard<py::gil_scoped_release>;
  m.def("forward_", &forward_, "tanh RNN recurrence over input projections, in place", released());
  m.def("backward", &backward, "gradient of the tanh RNN recurrence w.r.t. its pre-activations", released());
  m.def("lstm_forward_", &lstm_forward_, "LSTM recurrence over input projections: gates in place, returns (h, c)",
        released());
  m.def("lstm_backward", &lstm_backward, "gradient of the LSTM recurrence w.r.t. its pre-activations", released());
  m.def("gru_forward_", &gru_forward_, "GRU recurrence over input projections: gates in place, returns (h, hn)",
        released());
  m.def("gru_backward", &gru_backward, "gradients of the GRU recurrence w.r.t. its input and recurrent pre-activations",
        released());
}
