#pragma once
/// \file cpu.hpp  What nabla knows about the CPU it runs on, and which ISA it uses.
#include <cstdint>
#include <string>

namespace nabla {

/// Instruction sets nabla has kernels for, lowest first.
enum class Isa : int {
  Generic = 0,  ///< SSE2 (every x86-64)
  Avx2 = 1,     ///< AVX2 + FMA3
  Avx512 = 2,   ///< AVX-512 F/DQ/BW/VL
};

/// "generic", "avx2" or "avx512".
const char* isa_name(Isa isa);
/// Parses the names isa_name() gives; throws nabla::Error on anything else.
Isa parse_isa(const std::string& name);

/// Facts about the machine: hwloc for the topology and caches, CPUID + XGETBV
/// for the ISA (the OS must have enabled the register state, not only the CPU
/// have the instructions).
struct CpuInfo {
  std::string vendor;          ///< e.g. "AuthenticAMD"
  std::string model;           ///< e.g. "AMD EPYC"
  int physical_cores = 1;      ///< cores, not hardware threads
  int logical_cpus = 1;        ///< hardware threads
  int64_t l1d_bytes = 32 << 10;  ///< per core
  int64_t l2_bytes = 1 << 20;    ///< per core
  int64_t l3_bytes = 8 << 20;    ///< shared (0 if none)
  Isa best_isa = Isa::Generic;   ///< the best ISA CPU and OS both support
};

/// The machine's facts, computed once (thread-safe).
const CpuInfo& cpu_info();

/// The ISA the kernels dispatch to now: best_isa, lowered by the environment
/// variable NABLA_ISA=generic|avx2|avx512 at first use or by set_isa().
Isa active_isa();

/// Forces the kernels to an ISA no higher than the CPU supports (tests and
/// profiling use it). Throws nabla::Error if the CPU or OS lacks it.
void set_isa(Isa isa);

}  // namespace nabla
