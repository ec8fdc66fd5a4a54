#pragma once
// Each fuzz target's seed inputs: a few valid inputs, from which the replay
// driver (replay_main.cpp) derives its mutants. libFuzzer builds ignore it.
#include <string>
#include <vector>

/// Valid inputs for this target (defined in each fuzz_*.cpp).
std::vector<std::string> nabla_fuzz_seeds();
