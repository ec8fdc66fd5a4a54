#pragma once
// A fluent tester for the SGEMM kernel, in the style of XNNPACK's
// test/gemm-microkernel-tester.h:
//
//     GemmTester().m(7).n(33).k(17).ta(true).pad(true).beta(-1.5f)
//         .bias(BiasKind::PerCol).act(Activation::Tanh)
//         .Test(variant, config);
//
// Test(variant, config) runs one micro-kernel variant through
// detail::gemm_run with the given blocking; TestPublic() runs the public
// nabla::kernels::gemm() on the active ISA. Both check C against a float64
// model computed here (and check nabla::kernels::gemm_reference against the
// same model), with the tolerance max(abs, rel·|want|), abs scaled with k.
//
// How the inputs are made so that mistakes show up:
//   - A, B, C, bias and D are seeded random values in [-1, 1] (D in (0, 1)
//     for a sigmoid derivative, (-1, 1) for tanh, mixed sign with exact zeros
//     for ReLU);
//   - padding between rows (leading dimension > columns) is NaN, so a kernel
//     that reads it produces NaN; C's padding must come back bit-identical;
//   - every buffer ends exactly at its last element, so an over-read past it
//     is a heap overflow under ASan;
//   - beta == 0: C is all NaN (BLAS: C is not read); alpha == 0: A and B are
//     all NaN (neither is read).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iomanip>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/nabla.hpp"

namespace nabla_test {

using nabla::kernels::Activation;
using nabla::kernels::BiasKind;
using nabla::kernels::Epilogue;
using nabla::kernels::Trans;
using nabla::kernels::detail::GemmArgs;
using nabla::kernels::detail::GemmVariant;

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr double kNever = std::numeric_limits<double>::infinity();

inline const char* bias_name(BiasKind b) {
  switch (b) {
    case BiasKind::None: return "none";
    case BiasKind::PerRow: return "per-row";
    case BiasKind::PerCol: return "per-col";
  }
  return "?";
}

/// Restores the thread count on scope exit.
class ThreadCountGuard {
 public:
  ThreadCountGuard() : saved_(nabla::num_threads()) {}
  ~ThreadCountGuard() { nabla::set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

/// Restores the active ISA on scope exit.
class IsaGuard {
 public:
  IsaGuard() : saved_(nabla::active_isa()) {}
  ~IsaGuard() { nabla::set_isa(saved_); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;

 private:
  nabla::Isa saved_;
};

class GemmTester {
 public:
  GemmTester& m(int64_t v) { m_ = v; return *this; }
  GemmTester& n(int64_t v) { n_ = v; return *this; }
  GemmTester& k(int64_t v) { k_ = v; return *this; }
  GemmTester& ta(bool v) { ta_ = v; return *this; }
  GemmTester& tb(bool v) { tb_ = v; return *this; }
  /// Explicit leading dimensions (0: the tight value, plus a prime if pad()).
  GemmTester& lda(int64_t v) { lda_ = v; return *this; }
  GemmTester& ldb(int64_t v) { ldb_ = v; return *this; }
  GemmTester& ldc(int64_t v) { ldc_ = v; return *this; }
  GemmTester& ldd(int64_t v) { ldd_ = v; return *this; }
  /// Pads every leading dimension not set explicitly by a prime (7, 5, 3, 11).
  GemmTester& pad(bool v) { pad_ = v; return *this; }
  GemmTester& alpha(float v) { alpha_ = v; return *this; }
  GemmTester& beta(float v) { beta_ = v; return *this; }
  GemmTester& bias(BiasKind v) { bias_ = v; return *this; }
  GemmTester& act(Activation v) { act_ = v; return *this; }
  GemmTester& deriv(Activation v) { deriv_ = v; return *this; }
  /// Puts a NaN at op(A)[i, p] / op(B)[p, j]: it must reach C.
  GemmTester& nan_a(int64_t i, int64_t p) { nan_a_.push_back({i, p}); return *this; }
  GemmTester& nan_b(int64_t p, int64_t j) { nan_b_.push_back({p, j}); return *this; }
  /// Runs the call once per thread count: the first result is checked
  /// against the model, the others must be bitwise equal to it.
  GemmTester& threads(std::vector<int> v) { threads_ = std::move(v); return *this; }
  /// false: skip the float64 model (only the thread-count comparison).
  GemmTester& verify(bool v) { verify_ = v; return *this; }
  GemmTester& seed(uint32_t v) { seed_ = v; return *this; }

  int64_t get_m() const { return m_; }
  int64_t get_n() const { return n_; }
  int64_t get_k() const { return k_; }
  bool is_ta() const { return ta_; }
  bool is_tb() const { return tb_; }
  int64_t a_rows() const { return ta_ ? k_ : m_; }
  int64_t a_cols() const { return ta_ ? m_ : k_; }
  int64_t b_rows() const { return tb_ ? n_ : k_; }
  int64_t b_cols() const { return tb_ ? k_ : n_; }
  int64_t lda() const { return lda_ ? lda_ : std::max<int64_t>(1, a_cols()) + (pad_ ? 7 : 0); }
  int64_t ldb() const { return ldb_ ? ldb_ : std::max<int64_t>(1, b_cols()) + (pad_ ? 5 : 0); }
  int64_t ldc() const { return ldc_ ? ldc_ : std::max<int64_t>(1, n_) + (pad_ ? 3 : 0); }
  int64_t ldd() const { return ldd_ ? ldd_ : std::max<int64_t>(1, n_) + (pad_ ? 11 : 0); }

  /// One variant through detail::gemm_run with the given blocking. Returns
  /// C (with its padding) as computed with the first thread count.
  std::vector<float> Test(const GemmVariant& v, const nabla::GemmConfig& cfg) const {
    std::ostringstream who;
    who << "variant " << v.name << " (isa " << nabla::isa_name(v.isa) << ", " << v.mr << "x" << v.nr
        << "), blocking mc=" << cfg.mc << " kc=" << cfg.kc << " nc=" << cfg.nc
        << " small_flops=" << cfg.small_flops << " parallel_flops=" << cfg.parallel_flops
        << " task_flops=" << cfg.task_flops;
    return Run(who.str(), [&](const GemmArgs& g) { nabla::kernels::detail::gemm_run(v, cfg, g); });
  }

  /// The public nabla::kernels::gemm() on the active ISA.
  std::vector<float> TestPublic() const {
    const nabla::Isa isa = nabla::active_isa();
    const std::string who = std::string("nabla::kernels::gemm() on isa ") + nabla::isa_name(isa) + " (" +
                            nabla::to_string(nabla::gemm_config(isa)) + ")";
    return Run(who, [](const GemmArgs& g) {
      nabla::kernels::gemm(g.ta ? Trans::Yes : Trans::No, g.tb ? Trans::Yes : Trans::No, g.m, g.n, g.k,
                           g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc, g.ep);
    });
  }

  /// Everything that defines the problem, for failure messages.
  std::string Describe() const {
    std::ostringstream s;
    s << "m=" << m_ << " n=" << n_ << " k=" << k_ << " ta=" << (ta_ ? "Yes" : "No")
      << " tb=" << (tb_ ? "Yes" : "No") << " lda=" << lda() << " ldb=" << ldb() << " ldc=" << ldc()
      << " alpha=" << alpha_ << " beta=" << beta_ << " epilogue{bias=" << bias_name(bias_)
      << " act=" << nabla::kernels::activation_label(act_)
      << " deriv=" << nabla::kernels::activation_label(deriv_);
    if (deriv_ != Activation::None) s << " ldd=" << ldd();
    s << "}";
    for (auto [i, p] : nan_a_) s << " NaN at op(A)[" << i << "," << p << "]";
    for (auto [p, j] : nan_b_) s << " NaN at op(B)[" << p << "," << j << "]";
    s << " seed=" << seed_;
    return s.str();
  }

 private:
  struct Index2 {
    int64_t r, c;
  };

  // Size of a rows×cols matrix with leading dimension ld that ends exactly at
  // its last element (so ASan sees an over-read past it).
  static size_t tight_size(int64_t rows, int64_t cols, int64_t ld) {
    return rows == 0 ? 0 : static_cast<size_t>((rows - 1) * ld + cols);
  }

  // A rows×cols matrix: NaN padding, uniform(lo, hi) values (or all NaN).
  static std::vector<float> make_matrix(int64_t rows, int64_t cols, int64_t ld, bool poison,
                                        std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
    std::vector<float> x(tight_size(rows, cols, ld), kNaN);
    if (poison) return x;
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) x[i * ld + j] = dist(rng);
    return x;
  }

  // The activation and derivative in float64, as the contract states them.
  static double act64(Activation f, double x) { return nabla::kernels::activation_reference(f, x); }
  static double deriv64(Activation f, double g, double d) {
    return nabla::kernels::activation_backward_reference(f, g, d);
  }

  std::vector<float> Run(const std::string& who, const std::function<void(const GemmArgs&)>& call) const {
    std::mt19937 rng(seed_ ^ static_cast<uint32_t>(m_ * 73856093 + n_ * 19349663 + k_ * 83492791));
    const int64_t lda = this->lda(), ldb = this->ldb(), ldc = this->ldc(), ldd = this->ldd();

    // alpha == 0: A and B are all NaN; beta == 0: C is all NaN.
    std::vector<float> a = make_matrix(a_rows(), a_cols(), lda, alpha_ == 0.f, rng);
    std::vector<float> b = make_matrix(b_rows(), b_cols(), ldb, alpha_ == 0.f, rng);
    const std::vector<float> c0 = make_matrix(m_, n_, ldc, beta_ == 0.f, rng);
    for (auto [i, p] : nan_a_) a[ta_ ? p * lda + i : i * lda + p] = kNaN;
    for (auto [p, j] : nan_b_) b[tb_ ? j * ldb + p : p * ldb + j] = kNaN;
    std::vector<float> bias;
    if (bias_ != BiasKind::None) bias = make_matrix(1, bias_ == BiasKind::PerRow ? m_ : n_, 1, false, rng);
    std::vector<float> d;
    if (!deriv_.is_none()) {  // outputs of the activation: f(z) for z in [−3, 3]
      d = make_matrix(m_, n_, ldd, false, rng, -3.f, 3.f);
      if (!nabla::kernels::derivative_uses_input(deriv_.kind))  // else D is z itself
        for (float& z : d) z = static_cast<float>(act64(deriv_, z));
      for (int64_t i = 0; i < m_; ++i)  // the kink: the derivative at exactly 0 (a = f(0))
        for (int64_t j = (i % 3); j < n_; j += 5) d[i * ldd + j] = nabla::kernels::derivative_uses_input(deriv_.kind) ? 0.f : static_cast<float>(act64(deriv_, 0.0));
    }

    GemmArgs g;
    g.ta = ta_;
    g.tb = tb_;
    g.m = m_;
    g.n = n_;
    g.k = k_;
    g.alpha = alpha_;
    g.a = a.data();
    g.lda = lda;
    g.b = b.data();
    g.ldb = ldb;
    g.beta = beta_;
    g.ldc = ldc;
    g.ep.bias_kind = bias_;
    g.ep.bias = bias.empty() ? nullptr : bias.data();
    g.ep.act = act_;
    g.ep.deriv = deriv_;
    g.ep.d = d.empty() ? nullptr : d.data();
    g.ep.ldd = deriv_ == Activation::None ? 0 : ldd;

    std::vector<float> first;
    const std::vector<int> counts = threads_.empty() ? std::vector<int>{nabla::num_threads()} : threads_;
    ThreadCountGuard restore_threads;
    for (int t : counts) {
      std::vector<float> c = c0;
      g.c = c.data();
      nabla::set_num_threads(t);
      call(g);
      if (first.empty() && !c.empty()) {
        first = std::move(c);
        continue;
      }
      if (c.size() != 0 && std::memcmp(c.data(), first.data(), c.size() * sizeof(float)) != 0) {
        size_t at = 0;
        while (std::memcmp(&c[at], &first[at], sizeof(float)) == 0) ++at;
        ADD_FAILURE() << who << ", " << Describe() << ": with " << t << " threads C differs bitwise from "
                      << counts[0] << " thread(s); first at flat index " << at << " (C[" << at / ldc << ","
                      << at % ldc << "]): " << c[at] << " vs " << first[at];
      }
    }
    if (!verify_ || m_ == 0 || n_ == 0) return first;

    // The float64 model: op(A) and op(B) materialised, then row by row.
    std::vector<double> oa(static_cast<size_t>(m_ * k_)), ob(static_cast<size_t>(k_ * n_));
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t p = 0; p < k_; ++p) oa[i * k_ + p] = ta_ ? a[p * lda + i] : a[i * lda + p];
    for (int64_t p = 0; p < k_; ++p)
      for (int64_t j = 0; j < n_; ++j) ob[p * n_ + j] = tb_ ? b[j * ldb + p] : b[p * ldb + j];
    std::vector<double> want(static_cast<size_t>(m_ * n_));
    std::vector<double> acc(static_cast<size_t>(n_));
    for (int64_t i = 0; i < m_; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      if (alpha_ != 0.f)
        for (int64_t p = 0; p < k_; ++p) {
          const double av = oa[i * k_ + p];
          for (int64_t j = 0; j < n_; ++j) acc[j] += av * ob[p * n_ + j];
        }
      for (int64_t j = 0; j < n_; ++j) {
        double x = static_cast<double>(alpha_) * acc[j];
        if (beta_ != 0.f) x += static_cast<double>(beta_) * c0[i * ldc + j];
        if (bias_ == BiasKind::PerRow) x += bias[i];
        if (bias_ == BiasKind::PerCol) x += bias[j];
        x = act64(act_, x);
        if (deriv_ != Activation::None) x = deriv64(deriv_, x, d[i * ldd + j]);
        want[i * n_ + j] = x;
      }
    }

    // Every input lies in [-1, 1]: a float accumulation over k terms is off
    // by at most ~k·2^-24·|alpha| plus the rounding of beta·C, the bias and
    // the activation (whose outputs are at most 1 in magnitude).
    const double abs_tol = 1e-6 * (static_cast<double>(k_ + 1) * std::fabs(alpha_) + std::fabs(beta_) +
                                   (bias_ != BiasKind::None ? 1 : 0) + 1);
    const double rel_tol = 1e-5;
    Compare(who, first, ldc, want, [&](double w) { return std::max(abs_tol, rel_tol * std::fabs(w)); });
    // C's padding comes back untouched (bitwise).
    for (int64_t i = 0; i + 1 < m_; ++i)
      for (int64_t j = n_; j < ldc; ++j)
        if (std::memcmp(&first[i * ldc + j], &c0[i * ldc + j], sizeof(float)) != 0) {
          ADD_FAILURE() << who << ", " << Describe() << ": wrote C's padding at [" << i << "," << j
                        << "] (got " << first[i * ldc + j] << ")";
          return first;
        }

    // The scalar reference agrees with the model up to the final rounding.
    std::vector<float> cref = c0;
    nabla::kernels::gemm_reference(ta_ ? Trans::Yes : Trans::No, tb_ ? Trans::Yes : Trans::No, m_, n_, k_,
                                   alpha_, a.data(), lda, b.data(), ldb, beta_, cref.data(), ldc, g.ep);
    Compare("nabla::kernels::gemm_reference", cref, ldc, want,
            [](double w) { return 1e-6 * std::fabs(w) + 1e-30; });
    return first;
  }

  template <class Tol>
  void Compare(const std::string& who, const std::vector<float>& c, int64_t ldc, const std::vector<double>& want,
               Tol tol) const {
    int64_t bad = 0, bi = -1, bj = -1;
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t j = 0; j < n_; ++j) {
        const double w = want[i * n_ + j];
        const double got = c[i * ldc + j];
        const bool ok = std::isnan(w) ? std::isnan(got) : std::isfinite(got) && std::fabs(got - w) <= tol(w);
        if (!ok && bad++ == 0) {
          bi = i;
          bj = j;
        }
      }
    if (bad == 0) return;
    const double w = want[bi * n_ + bj];
    ADD_FAILURE() << who << ", " << Describe() << ": " << bad << " of " << m_ * n_
                  << " elements wrong; first C[" << bi << "," << bj << "] = " << std::setprecision(9)
                  << c[bi * ldc + bj] << ", want " << w << " (tolerance " << tol(w) << ")";
  }

  int64_t m_ = 1, n_ = 1, k_ = 1;
  bool ta_ = false, tb_ = false;
  int64_t lda_ = 0, ldb_ = 0, ldc_ = 0, ldd_ = 0;
  bool pad_ = false;
  float alpha_ = 1.f, beta_ = 0.f;
  BiasKind bias_ = BiasKind::None;
  Activation act_ = Activation::None, deriv_ = Activation::None;
  std::vector<Index2> nan_a_, nan_b_;
  std::vector<int> threads_;
  bool verify_ = true;
  uint32_t seed_ = 20240611u;
};

}  // namespace nabla_test
