#pragma once
// A float64 scalar reference of the nn layers and losses, written
// independently of src/nn (plain loops over PyTorch's definitions), and a
// copy of a nabla model into it. The nn tests compare nabla's float32
// results with it, and it with central finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nabla/kernels/activation.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/registry.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/tensor.hpp"

namespace nabla::test {

using Vec = std::vector<double>;
using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto e : s) n *= e;
  return n;
}

/// One layer of the reference: kind + parameters in PyTorch's layouts.
struct RefLayer {
  enum Kind { Dense, Conv, Pool, Flatten, Act, Softmax, BatchNorm, Identity, AvgPool, Gap } kind;
  nabla::kernels::Activation act;  // Act: a row of the activation table
  Vec w, b;                       // Dense [out, in] / Conv [o, c, k, k]; bias
  int64_t in = 0, out = 0;        // Dense features / Conv channels
  int64_t k = 0, stride = 1, pad = 0;  // Conv and Pool
  Vec dw, db;                     // gradients from backward
  // BatchNorm: w = weight, b = bias; torch's definitions.
  double eps = 1e-5, momentum = 0.1;
  bool training = true;
  Vec running_mean, running_var;  // updated by a training forward
  Vec mean, inv;                  // of the last forward (batch or running statistics)
};

/// The reference network: forward keeps every activation, backward returns
/// dLoss/dx and fills dw, db.
struct RefNet {
  std::vector<RefLayer> layers;
  std::vector<Vec> acts;      // acts[0] = x, acts[i+1] = output of layer i
  std::vector<Shape> shapes;

  static Shape out_shape(const RefLayer& l, const Shape& s) {
    switch (l.kind) {
      case RefLayer::Dense: return {s[0], l.out};
      case RefLayer::Conv:
        return {s[0], l.out, (s[2] + 2 * l.pad - l.k) / l.stride + 1, (s[3] + 2 * l.pad - l.k) / l.stride + 1};
      case RefLayer::Pool: return {s[0], s[1], (s[2] - l.k) / l.stride + 1, (s[3] - l.k) / l.stride + 1};
      case RefLayer::Flatten: return {s[0], numel(s) / s[0]};
      case RefLayer::AvgPool:
        return {s[0], s[1], (s[2] + 2 * l.pad - l.k) / l.stride + 1, (s[3] + 2 * l.pad - l.k) / l.stride + 1};
      case RefLayer::Gap: return {s[0], s[1], 1, 1};
      default: return s;
    }
  }

  Vec forward(const Vec& x, const Shape& shape) {
    acts = {x};
    shapes = {shape};
    for (auto& l : layers) {
      const Vec& a = acts.back();
      const Shape& s = shapes.back();
      const Shape os = out_shape(l, s);
      Vec y(static_cast<size_t>(numel(os)));
      switch (l.kind) {
        case RefLayer::Dense:
          for (int64_t n = 0; n < s[0]; ++n)
            for (int64_t o = 0; o < l.out; ++o) {
              double z = l.b[o];
              for (int64_t i = 0; i < l.in; ++i) z += a[n * l.in + i] * l.w[o * l.in + i];
              y[n * l.out + o] = z;
            }
          break;
        case RefLayer::Conv:
          for (int64_t n = 0; n < s[0]; ++n)
            for (int64_t o = 0; o < os[1]; ++o)
              for (int64_t i = 0; i < os[2]; ++i)
                for (int64_t j = 0; j < os[3]; ++j) {
                  double z = l.b[o];
                  for (int64_t c = 0; c < s[1]; ++c)
                    for (int64_t p = 0; p < l.k; ++p)
                      for (int64_t q = 0; q < l.k; ++q) {
                        const int64_t h = i * l.stride + p - l.pad, w = j * l.stride + q - l.pad;
                        if (h < 0 || h >= s[2] || w < 0 || w >= s[3]) continue;
                        z += a[((n * s[1] + c) * s[2] + h) * s[3] + w] * l.w[((o * s[1] + c) * l.k + p) * l.k + q];
                      }
                  y[((n * os[1] + o) * os[2] + i) * os[3] + j] = z;
                }
          break;
        case RefLayer::Pool:
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
            for (int64_t i = 0; i < os[2]; ++i)
              for (int64_t j = 0; j < os[3]; ++j) {
                double m = -INFINITY;
                for (int64_t p = 0; p < l.k; ++p)
                  for (int64_t q = 0; q < l.k; ++q)
                    m = std::max(m, a[(nc * s[2] + i * l.stride + p) * s[3] + j * l.stride + q]);
                y[(nc * os[2] + i) * os[3] + j] = m;
              }
          break;
        case RefLayer::Flatten: y = a; break;
        case RefLayer::Identity: y = a; break;
        case RefLayer::BatchNorm: {
          const int64_t c = s[1], hw = numel(s) / (s[0] * c), m = s[0] * hw;
          l.mean.assign(c, 0);
          l.inv.assign(c, 0);
          for (int64_t ch = 0; ch < c; ++ch) {
            double sum = 0, sq = 0;
            for (int64_t n = 0; n < s[0]; ++n)
              for (int64_t i = 0; i < hw; ++i) sum += a[(n * c + ch) * hw + i];
            const double mu = sum / m;
            for (int64_t n = 0; n < s[0]; ++n)
              for (int64_t i = 0; i < hw; ++i) sq += (a[(n * c + ch) * hw + i] - mu) * (a[(n * c + ch) * hw + i] - mu);
            const double var = sq / m;
            if (l.training) {
              l.mean[ch] = mu;
              l.inv[ch] = 1 / std::sqrt(var + l.eps);
              l.running_mean[ch] = l.momentum * mu + (1 - l.momentum) * l.running_mean[ch];
              l.running_var[ch] = l.momentum * var * m / (m - 1) + (1 - l.momentum) * l.running_var[ch];
            } else {
              l.mean[ch] = l.running_mean[ch];
              l.inv[ch] = 1 / std::sqrt(l.running_var[ch] + l.eps);
            }
            for (int64_t n = 0; n < s[0]; ++n)
              for (int64_t i = 0; i < hw; ++i) {
                const int64_t j = (n * c + ch) * hw + i;
                y[j] = (a[j] - l.mean[ch]) * l.inv[ch] * l.w[ch] + l.b[ch];
              }
          }
          break;
        }
        case RefLayer::AvgPool:  // torch's count_include_pad = True: divide by k²
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
            for (int64_t i = 0; i < os[2]; ++i)
              for (int64_t j = 0; j < os[3]; ++j) {
                double sum = 0;
                for (int64_t p = 0; p < l.k; ++p)
                  for (int64_t q = 0; q < l.k; ++q) {
                    const int64_t h = i * l.stride + p - l.pad, w = j * l.stride + q - l.pad;
                    if (h >= 0 && h < s[2] && w >= 0 && w < s[3]) sum += a[(nc * s[2] + h) * s[3] + w];
                  }
                y[(nc * os[2] + i) * os[3] + j] = sum / double(l.k * l.k);
              }
          break;
        case RefLayer::Gap:
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc) {
            double sum = 0;
            for (int64_t i = 0; i < s[2] * s[3]; ++i) sum += a[nc * s[2] * s[3] + i];
            y[nc] = sum / double(s[2] * s[3]);
          }
          break;
        case RefLayer::Act:
          for (size_t i = 0; i < y.size(); ++i) y[i] = nabla::kernels::activation_reference(l.act, a[i]);
          break;
        case RefLayer::Softmax: {
          const int64_t c = s.back();
          for (int64_t r = 0; r < numel(s) / c; ++r) {
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < c; ++j) m = std::max(m, a[r * c + j]);
            for (int64_t j = 0; j < c; ++j) sum += std::exp(a[r * c + j] - m);
            for (int64_t j = 0; j < c; ++j) y[r * c + j] = std::exp(a[r * c + j] - m) / sum;
          }
          break;
        }
      }
      acts.push_back(std::move(y));
      shapes.push_back(os);
    }
    return acts.back();
  }

  Vec backward(Vec dy) {
    for (size_t li = layers.size(); li-- > 0;) {
      RefLayer& l = layers[li];
      const Vec& a = acts[li];
      const Vec& y = acts[li + 1];
      const Shape& s = shapes[li];
      const Shape& os = shapes[li + 1];
      Vec dx(a.size(), 0.0);
      switch (l.kind) {
        case RefLayer::Dense:
          l.dw.assign(l.w.size(), 0);
          l.db.assign(l.b.size(), 0);
          for (int64_t n = 0; n < s[0]; ++n)
            for (int64_t o = 0; o < l.out; ++o) {
              const double g = dy[n * l.out + o];
              l.db[o] += g;
              for (int64_t i = 0; i < l.in; ++i) {
                l.dw[o * l.in + i] += g * a[n * l.in + i];
                dx[n * l.in + i] += g * l.w[o * l.in + i];
              }
            }
          break;
        case RefLayer::Conv:
          l.dw.assign(l.w.size(), 0);
          l.db.assign(l.b.size(), 0);
          for (int64_t n = 0; n < s[0]; ++n)
            for (int64_t o = 0; o < os[1]; ++o)
              for (int64_t i = 0; i < os[2]; ++i)
                for (int64_t j = 0; j < os[3]; ++j) {
                  const double g = dy[((n * os[1] + o) * os[2] + i) * os[3] + j];
                  l.db[o] += g;
                  for (int64_t c = 0; c < s[1]; ++c)
                    for (int64_t p = 0; p < l.k; ++p)
                      for (int64_t q = 0; q < l.k; ++q) {
                        const int64_t h = i * l.stride + p - l.pad, w = j * l.stride + q - l.pad;
                        if (h < 0 || h >= s[2] || w < 0 || w >= s[3]) continue;
                        const int64_t xi = ((n * s[1] + c) * s[2] + h) * s[3] + w;
                        const int64_t wi = ((o * s[1] + c) * l.k + p) * l.k + q;
                        l.dw[wi] += g * a[xi];
                        dx[xi] += g * l.w[wi];
                      }
                }
          break;
        case RefLayer::Pool:
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
            for (int64_t i = 0; i < os[2]; ++i)
              for (int64_t j = 0; j < os[3]; ++j) {
                int64_t best = -1;
                for (int64_t p = 0; p < l.k; ++p)
                  for (int64_t q = 0; q < l.k; ++q) {
                    const int64_t xi = (nc * s[2] + i * l.stride + p) * s[3] + j * l.stride + q;
                    if (best < 0 || a[xi] > a[best]) best = xi;
                  }
                dx[best] += dy[(nc * os[2] + i) * os[3] + j];
              }
          break;
        case RefLayer::Flatten: dx = dy; break;
        case RefLayer::Identity: dx = dy; break;
        case RefLayer::BatchNorm: {
          const int64_t c = s[1], hw = numel(s) / (s[0] * c);
          const double m = static_cast<double>(s[0] * hw);
          l.dw.assign(c, 0);
          l.db.assign(c, 0);
          for (int64_t ch = 0; ch < c; ++ch) {
            double sdy = 0, sdyx = 0;
            for (int64_t n = 0; n < s[0]; ++n)
              for (int64_t i = 0; i < hw; ++i) {
                const int64_t j = (n * c + ch) * hw + i;
                sdy += dy[j];
                sdyx += dy[j] * (a[j] - l.mean[ch]) * l.inv[ch];
              }
            l.dw[ch] = sdyx;
            l.db[ch] = sdy;
            for (int64_t n = 0; n < s[0]; ++n)
              for (int64_t i = 0; i < hw; ++i) {
                const int64_t j = (n * c + ch) * hw + i;
                const double xh = (a[j] - l.mean[ch]) * l.inv[ch];
                dx[j] = l.training ? l.w[ch] * l.inv[ch] * (dy[j] - sdy / m - xh * sdyx / m) : l.w[ch] * l.inv[ch] * dy[j];
              }
          }
          break;
        }
        case RefLayer::AvgPool:
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
            for (int64_t i = 0; i < os[2]; ++i)
              for (int64_t j = 0; j < os[3]; ++j)
                for (int64_t p = 0; p < l.k; ++p)
                  for (int64_t q = 0; q < l.k; ++q) {
                    const int64_t h = i * l.stride + p - l.pad, w = j * l.stride + q - l.pad;
                    if (h >= 0 && h < s[2] && w >= 0 && w < s[3])
                      dx[(nc * s[2] + h) * s[3] + w] += dy[(nc * os[2] + i) * os[3] + j] / double(l.k * l.k);
                  }
          break;
        case RefLayer::Gap:
          for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
            for (int64_t i = 0; i < s[2] * s[3]; ++i) dx[nc * s[2] * s[3] + i] = dy[nc] / double(s[2] * s[3]);
          break;
        case RefLayer::Act:
          for (size_t i = 0; i < dx.size(); ++i) dx[i] = nabla::kernels::activation_backward_reference(
              l.act, dy[i], nabla::kernels::derivative_uses_input(l.act.kind) ? a[i] : y[i]);
          break;
        case RefLayer::Softmax: {
          const int64_t c = s.back();
          for (int64_t r = 0; r < numel(s) / c; ++r) {
            double dot = 0;
            for (int64_t j = 0; j < c; ++j) dot += dy[r * c + j] * y[r * c + j];
            for (int64_t j = 0; j < c; ++j) dx[r * c + j] = y[r * c + j] * (dy[r * c + j] - dot);
          }
          break;
        }
      }
      dy = std::move(dx);
    }
    return dy;
  }

  /// The parameters as (layer, is_bias) vectors, in named_parameters order.
  std::vector<Vec*> params() {
    std::vector<Vec*> p;
    for (auto& l : layers)
      if (l.kind == RefLayer::Dense || l.kind == RefLayer::Conv || l.kind == RefLayer::BatchNorm)
        p.insert(p.end(), {&l.w, &l.b});
    return p;
  }
  std::vector<Vec*> grads() {
    std::vector<Vec*> p;
    for (auto& l : layers)
      if (l.kind == RefLayer::Dense || l.kind == RefLayer::Conv || l.kind == RefLayer::BatchNorm)
        p.insert(p.end(), {&l.dw, &l.db});
    return p;
  }
};

inline Vec to_vec(const Tensor& t) { return Vec(t.data(), t.data() + t.numel()); }

/// The reference of a nabla model (same parameters, widened to double),
/// from each layer's registry entry (type().name), constructor arguments
/// (args()) and parameters; every activation of the table through its
/// float64 reference. Layers it does not know are handed to `extra`.
inline RefNet reference_of(nn::Sequential& m,
                           const std::function<bool(nn::Layer&, RefLayer&)>& extra = {}) {
  RefNet r;
  for (int64_t i = 0; i < m.size(); ++i) {
    nn::Layer& l = m.layer(i);
    RefLayer rl{RefLayer::Flatten};
    const std::string& type = l.type().name;
    const std::vector<double> a = l.args();
    const auto params = l.named_parameters();
    auto whole = [&](size_t i) { return static_cast<int64_t>(a.at(i)); };
    if (type == "Dense" || type == "Conv2D") {
      rl.kind = type == "Dense" ? RefLayer::Dense : RefLayer::Conv;
      rl.in = whole(0);
      rl.out = whole(1);
      if (rl.kind == RefLayer::Conv) {
        rl.k = whole(2);
        rl.stride = whole(3);
        rl.pad = whole(4);
      }
      rl.w = to_vec(params.at(0).second->value);
      rl.b = to_vec(params.at(1).second->value);
    } else if (type == "MaxPool2D") {
      rl.kind = RefLayer::Pool;
      rl.k = whole(0);
      rl.stride = whole(1);
    } else if (type == "AvgPool2D") {
      rl.kind = RefLayer::AvgPool;
      rl.k = whole(0);
      rl.stride = whole(1);
      rl.pad = whole(2);
    } else if (type == "GlobalAvgPool2D") {
      rl.kind = RefLayer::Gap;
    } else if (type == "Flatten") {
      rl.kind = RefLayer::Flatten;
    } else if (type == "Softmax") {
      rl.kind = RefLayer::Softmax;
    } else if (type == "BatchNorm2D" || type == "BatchNorm1D") {
      rl.kind = RefLayer::BatchNorm;
      rl.eps = a.at(1);
      rl.momentum = a.at(2);
      rl.training = l.is_training();
      rl.w = to_vec(params.at(0).second->value);
      rl.b = to_vec(params.at(1).second->value);
      const auto buffers = l.named_buffers();
      rl.running_mean = to_vec(*buffers.at(0).second.value);
      rl.running_var = to_vec(*buffers.at(1).second.value);
    } else if (type == "Dropout" && !l.is_training()) {
      rl.kind = RefLayer::Identity;
    } else if (!l.activation().is_none()) {
      rl.kind = RefLayer::Act;
      rl.act = l.activation();
    } else if (!extra || !extra(l, rl)) {
      ADD_FAILURE() << "reference_of: unknown layer " << l.name();
    }
    r.layers.push_back(rl);
  }
  return r;
}

/// Reference losses: value and dLoss/dpred, PyTorch's definitions.
enum class RefLoss { Bce, BceLogits, SceIndex, SceProbs, Mse };

inline double ref_loss(RefLoss kind, const Vec& p, const Vec& y, int64_t classes, Vec* grad) {
  const double n_all = static_cast<double>(p.size());
  double loss = 0;
  if (grad) grad->assign(p.size(), 0);
  if (kind == RefLoss::SceIndex || kind == RefLoss::SceProbs) {
    const int64_t rows = static_cast<int64_t>(p.size()) / classes;
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < classes; ++j) m = std::max(m, p[r * classes + j]);
      for (int64_t j = 0; j < classes; ++j) s += std::exp(p[r * classes + j] - m);
      const double lse = m + std::log(s);
      for (int64_t j = 0; j < classes; ++j) {
        const double t = kind == RefLoss::SceIndex ? (static_cast<int64_t>(y[r]) == j) : y[r * classes + j];
        loss += t * (lse - p[r * classes + j]) / rows;
        if (grad) (*grad)[r * classes + j] = (std::exp(p[r * classes + j] - lse) - t) / rows;
      }
    }
    return loss;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const double a = p[i], t = y[i];
    switch (kind) {
      case RefLoss::Bce:
        loss -= (t * std::max(std::log(a), -100.0) + (1 - t) * std::max(std::log(1 - a), -100.0)) / n_all;
        if (grad) (*grad)[i] = (a - t) / std::max(a * (1 - a), 1e-12) / n_all;
        break;
      case RefLoss::BceLogits:
        loss += (std::max(a, 0.0) - a * t + std::log1p(std::exp(-std::fabs(a)))) / n_all;
        if (grad) (*grad)[i] = (1 / (1 + std::exp(-a)) - t) / n_all;
        break;
      default:
        loss += (a - t) * (a - t) / n_all;
        if (grad) (*grad)[i] = 2 * (a - t) / n_all;
        break;
    }
  }
  return loss;
}

/// Expects |got − want| <= tol·max(1, |want|) element-wise.
inline void expect_close(const float* got, const Vec& want, double tol, const std::string& what) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::fabs(got[i] - want[i]) / std::max(1.0, std::fabs(want[i]));
    if (!(e <= worst)) worst = e, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": element " << at << " is " << got[at] << ", expected " << want[at];
}

/// Relative error measure between two double vectors, scaled by the largest |b|.
inline double rel_diff(const Vec& a, const Vec& b) {
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

}  // namespace nabla::test

namespace nabla::test {

// Central differences (h = 1e-6) of loss_at() against the analytical
// gradient g at up to `samples` evenly spaced entries of v (each put back).
template <class F>
void expect_central_differences(Vec& v, const Vec& g, F&& loss_at, size_t samples, const std::string& what) {
  const double h = 1e-6;
  const size_t stride = std::max<size_t>(1, v.size() / samples);
  for (size_t j = 0; j < v.size(); j += stride) {
    const double keep = v[j];
    v[j] = keep + h;
    const double lp = loss_at();
    v[j] = keep - h;
    const double lm = loss_at();
    v[j] = keep;
    const double fd = (lp - lm) / (2 * h);
    EXPECT_NEAR(g[j], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << what << "[" << j << "]: reference vs finite differences";
  }
}

/// A loss as the tests drive it: nabla's object plus the reference kind.
struct LossCase {
  RefLoss kind;
  int64_t classes = 1;  // for the cross-entropies
  std::function<float(const Tensor&, const Tensor&)> forward;
  std::function<Tensor()> backward;
};

/// Random input in [-1, 1] and targets suited to the loss.
inline Tensor random_input(const Shape& s, uint64_t seed) { return Tensor::uniform(s, -1.f, 1.f, seed); }
inline Tensor random_target(RefLoss kind, const Shape& out, uint64_t seed) {
  Tensor t = Tensor::uniform(kind == RefLoss::SceIndex ? Shape{out[0]} : out, 0.f, 1.f, seed);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (kind == RefLoss::SceIndex) p[i] = std::floor(p[i] * static_cast<float>(out[1]));
    if (kind == RefLoss::Bce || kind == RefLoss::BceLogits) p[i] = p[i] < 0.5f ? 0.f : 1.f;
  }
  if (kind == RefLoss::SceProbs)  // one-hot rows
    for (int64_t r = 0; r < out[0]; ++r)
      for (int64_t j = 0; j < out[1]; ++j) p[r * out[1] + j] = j == (r * 7 + 3) % out[1] ? 1.f : 0.f;
  return t;
}

/// One forward + loss + backward of m on (x, t) against the float64
/// reference (outputs, loss, every parameter gradient and, if m computes
/// it, the input gradient, with tolerance tol), and the reference's
/// gradients against central finite differences of its loss.
inline void check_against_reference(nn::Sequential& m, LossCase& loss, const Tensor& x,
                                    const Tensor& t, double tol,
                                    const std::function<bool(nn::Layer&, RefLayer&)>& extra = {},
                                    bool model_grad_scale = false) {
  m.zero_grad();
  Tensor y = m.forward(x);
  const float l = loss.forward(y, t);
  Tensor dx = m.backward(loss.backward());

  RefNet ref = reference_of(m, extra);
  const Vec yr = ref.forward(to_vec(x), x.shape());
  Vec g;
  const Vec tv = to_vec(t);
  const double lr = ref_loss(loss.kind, yr, tv, loss.classes, &g);
  expect_close(y.data(), yr, tol, "output");
  EXPECT_NEAR(l, lr, tol * std::max(1.0, std::fabs(lr))) << "loss";
  const Vec dxr = ref.backward(g);
  if (m.input_grad()) expect_close(dx.data(), dxr, tol, "input gradient");
  auto params = m.named_parameters();
  auto rgrads = ref.grads();
  ASSERT_EQ(params.size(), rgrads.size());
  // model_grad_scale: relative to the model's largest gradient (for a bias
  // before a BatchNorm, whose exact gradient is 0 and the float one noise).
  double model_scale = 1e-3;
  for (const Vec* g : rgrads)
    for (double v : *g) model_scale = std::max(model_scale, std::fabs(v));
  for (size_t i = 0; i < params.size(); ++i) {
    // gradients are compared relative to the largest one of the tensor
    double scale = model_grad_scale ? model_scale : 1e-3;
    for (double v : *rgrads[i]) scale = std::max(scale, std::fabs(v));
    Vec scaled(rgrads[i]->size());
    std::vector<float> got(scaled.size());
    for (size_t j = 0; j < scaled.size(); ++j) {
      scaled[j] = (*rgrads[i])[j] / scale;
      got[j] = static_cast<float>(params[i].second->grad.data()[j] / scale);
    }
    expect_close(got.data(), scaled, tol, "gradient of " + params[i].first);
  }

  // The reference against central differences of its own loss (every
  // parameter entry up to 40 per tensor, spread over the tensor).
  auto rparams = ref.params();
  Vec xv = to_vec(x);
  auto loss_at = [&] { return ref_loss(loss.kind, ref.forward(xv, x.shape()), tv, loss.classes, nullptr); };
  // Central differences of the loss against the analytical gradient g at
  // (up to) 40 evenly spaced entries of v.
  auto check_fd = [&](Vec& v, const Vec& g, const std::string& what) {
    expect_central_differences(v, g, loss_at, 40, what);
  };
  if (m.input_grad()) check_fd(xv, dxr, "x");
  for (size_t i = 0; i < rparams.size(); ++i) check_fd(*rparams[i], *rgrads[i], params[i].first);
}

}  // namespace nabla::test
