#pragma once
/// \file threads.hpp  How many threads nabla's kernels may use.

namespace nabla {

/// Limits nabla (and all oneTBB work in the process) to n threads, n >= 1.
/// Results never depend on it: every kernel is bitwise identical for any n.
/// Throws nabla::Error for n < 1.
void set_num_threads(int n);

/// The current limit: set_num_threads(), else NABLA_NUM_THREADS from the
/// environment, else the number of physical cores.
int num_threads();

}  // namespace nabla
