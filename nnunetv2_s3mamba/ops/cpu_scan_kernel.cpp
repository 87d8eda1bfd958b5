// Selective scan forward on the CPU, without autograd: the inference path of S3-Mamba on machines with no GPU.
//
// Layout (fp32, contiguous): u, delta (B, D, L); A (D, N); Bt, Ct (B, G, L, N) - time-major so that the N states of
// one step are contiguous; D_skip, delta_bias (D). Channel d uses group d / (D / G). Returns y (B, D, L).
//
// Each (batch, channel) row is an independent recurrence, so rows are split over threads. Within a row, time is
// processed in blocks of T steps in four vectorisable passes: step sizes (softplus), decay factors exp(dt * A) and
// inputs dt * B * u for all T x N entries, the recurrence itself (one fused multiply-add per state and step), and the
// read-out sum over states. Built with -ffast-math so that the compiler calls glibc's vector exp/log1p; non-finite
// inputs are routed to the PyTorch scan by the caller because fast math does not propagate NaN reliably.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {
constexpr int64_t kBlock = 64;

// One (batch, channel) row. kStates > 0 fixes the number of states at compile time (16 in S3-Mamba), so that the
// state vector lives in registers; kStates == 0 handles any n_state.
template <int64_t kStates>
void scan_row(const float* u_row, const float* delta_row, const float* A_row, const float* B_row, const float* C_row,
              float bias, float skip, bool delta_softplus, int64_t length, int64_t n_state_runtime, float* y_row,
              float* decay, float* drive, float* readout) {
  const int64_t n_state = kStates > 0 ? kStates : n_state_runtime;
  float h[kStates > 0 ? kStates : 1];
  std::vector<float> h_dynamic(kStates > 0 ? 0 : n_state, 0.f);
  float* state = kStates > 0 ? h : h_dynamic.data();
  for (int64_t n = 0; n < n_state; ++n) state[n] = 0.f;
  float step[kBlock], x[kBlock];
  for (int64_t start = 0; start < length; start += kBlock) {
    const int64_t len = std::min(kBlock, length - start);
#pragma omp simd
    for (int64_t t = 0; t < len; ++t) {
      const float v = delta_row[start + t] + bias;
      step[t] = delta_softplus ? (v <= 20.f ? std::log1p(std::exp(v)) : v) : v;
      x[t] = u_row[start + t];
    }
    const float* B_block = B_row + start * n_state;
    for (int64_t t = 0; t < len; ++t) {
      const float dt = step[t], dt_x = dt * x[t];
#pragma omp simd
      for (int64_t n = 0; n < n_state; ++n) {
        decay[t * n_state + n] = std::exp(dt * A_row[n]);
        drive[t * n_state + n] = dt_x * B_block[t * n_state + n];
      }
    }
    const float* C_block = C_row + start * n_state;
    for (int64_t t = 0; t < len; ++t) {
#pragma omp simd
      for (int64_t n = 0; n < n_state; ++n) {
        state[n] = decay[t * n_state + n] * state[n] + drive[t * n_state + n];
        readout[t * n_state + n] = state[n] * C_block[t * n_state + n];
      }
    }
    for (int64_t t = 0; t < len; ++t) {
      float sum = 0.f;
#pragma omp simd reduction(+ : sum)
      for (int64_t n = 0; n < n_state; ++n) sum += readout[t * n_state + n];
      y_row[start + t] = sum + skip * x[t];
    }
  }
}
}  // namespace

torch::Tensor selective_scan_forward(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                                     const torch::Tensor& Bt, const torch::Tensor& Ct, const torch::Tensor& D_skip,
                                     const torch::Tensor& delta_bias, bool delta_softplus) {
  const int64_t batch = u.size(0), dim = u.size(1), length = u.size(2), n_state = A.size(1), groups = Bt.size(1);
  auto y = torch::empty_like(u);
  const float* u_p = u.data_ptr<float>();
  const float* delta_p = delta.data_ptr<float>();
  const float* A_p = A.data_ptr<float>();
  const float* B_p = Bt.data_ptr<float>();
  const float* C_p = Ct.data_ptr<float>();
  const float* D_p = D_skip.data_ptr<float>();
  const float* bias_p = delta_bias.data_ptr<float>();
  float* y_p = y.data_ptr<float>();
  const int64_t channels_per_group = dim / groups;

  at::parallel_for(0, batch * dim, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> decay(kBlock * n_state), drive(kBlock * n_state), readout(kBlock * n_state);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / dim, d = row % dim, g = d / channels_per_group;
      const int64_t group_offset = (b * groups + g) * length * n_state;
      auto run = n_state == 16 ? scan_row<16> : scan_row<0>;
      run(u_p + row * length, delta_p + row * length, A_p + d * n_state, B_p + group_offset, C_p + group_offset,
          bias_p[d], D_p[d], delta_softplus, length, n_state, y_p + row * length, decay.data(), drive.data(),
          readout.data());
    }
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("selective_scan_forward", &selective_scan_forward, "Selective scan forward on the CPU (no autograd)");
}
