#pragma once
/// \file nabla.hpp  Umbrella header: fast CPU training of MLPs and CNNs.
///
///     #include <nabla/nabla.hpp>
///     // y = relu(x · wᵀ + b) for a batch of 64 rows of 784 features, 256 outputs
///     nabla::kernels::gemm(nabla::kernels::Trans::No, nabla::kernels::Trans::Yes,
///                          64, 256, 784, 1.f, x, 784, w, 784, 0.f, y, 256,
///                          nabla::kernels::Epilogue::bias_act(
///                              nabla::kernels::BiasKind::PerCol, b,
///                              nabla::kernels::Activation::ReLU));
#include "nabla/data/csv.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/optim.hpp"
#include "nabla/kernels/pool.hpp"
#include "nabla/kernels/types.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/parameter.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/nn/registry.hpp"
#include "nabla/nn/residual.hpp"
#include "nabla/nn/schedule.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"
#include "nabla/runtime/config.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/file.hpp"
#include "nabla/runtime/interrupt.hpp"
#include "nabla/runtime/measure.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/tensor.hpp"
#include "nabla/version.hpp"
