// Links the installed nabla::dist (built only when nabla found MPI). Started
// without mpirun, it only asks whether an MPI launcher started it.
#include <nabla/dist/mpi.hpp>

#include <cstdio>

int main() {
  std::printf("consumer_dist: launched by mpirun: %s\n", nabla::dist::launched_by_mpi() ? "yes" : "no");
  return 0;
}
