#pragma once
/// \file mpi.hpp  Data-parallel training over MPI: the optional component
/// `nabla::dist` (library `nabla_dist`, built when CMake finds MPI and
/// `NABLA_WITH_MPI` is on). The core library knows nothing of it.
///
/// Each rank (process) holds a replica of the model and trains on its slice
/// of every global batch (data::BatchIterator::set_shard); after backward,
/// GradientReducer sums the gradients of all ranks in one fused buffer, and
/// every rank applies the same optimiser step to the same sum, so the
/// replicas stay bitwise identical.
///
///     dist::World world(argc, argv);               // MPI_Init ... MPI_Finalize
///     world.broadcast(tensors_of(model), 0);        // rank 0's initial weights
///     it.set_shard(world.rank(), world.size());     // it: global batch N·B
///     dist::GradientReducer reducer(world, model.parameters());
///     while (it.next()) {
///       opt.zero_grad();
///       loss.forward(model.forward(it.x()), it.y());
///       model.backward(loss.backward());
///       // local mean-loss gradient × local/global batch = this rank's share
///       reducer.reduce(float(it.batch_size()) / float(it.global_batch_size()));
///       opt.step();
///     }
///
/// Headers of this component do not include <mpi.h>.
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/error.hpp"
#include "nabla/nn/parameter.hpp"
#include "nabla/tensor.hpp"

namespace nabla::dist {

/// Whether this process was started by an MPI launcher (Open MPI's mpirun,
/// MPICH's or Intel's mpiexec, Slurm's srun): reads the environment those
/// set, so a plain run never initialises MPI.
bool launched_by_mpi();

/// An error every rank of the job raises at the same point with the same
/// verdict (a collective check failed), so each can end cleanly with
/// MPI_Finalize instead of MPI_Abort. The message is complete on rank 0.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& what) : Error(what) {}
};

/// The job: MPI_Init_thread on construction, MPI_Finalize on destruction
/// (one World per process), and the collectives the training loop needs on
/// MPI_COMM_WORLD. Only the thread that made it may call MPI (oneTBB's
/// workers never do).
class World {
 public:
  /// Initialises MPI; throws nabla::Error when MPI is initialised already.
  World(int& argc, char**& argv);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  /// This process's rank, 0 ≤ rank() < size().
  int rank() const { return rank_; }
  /// Number of ranks.
  int size() const { return size_; }

  /// Copies root's tensors into every rank's (same shapes on all ranks, in
  /// the same order), in one fused MPI_Bcast.
  void broadcast(std::vector<Tensor> tensors, int root = 0) const;
  /// Waits until every rank has reached it (MPI_Barrier).
  void barrier() const;
  /// values[i] ← the sum over ranks of values[i] (double; small counters).
  void sum(double* values, int n) const;

  /// Every rank passes the text that must agree between ranks (a model
  /// spec, the run's settings); a collective. Returns when all texts are
  /// equal (compared by a 64-bit hash, MPI_MAX of h and of ~h); otherwise
  /// throws CollectiveError on every rank, rank 0's message naming `what`
  /// and quoting the texts of the ranks that differ from rank 0's.
  void check_same(const std::string& text, const std::string& what) const;
  /// Every rank passes its error message ("" for none); a collective.
  /// Returns when no rank has one; otherwise throws CollectiveError on every
  /// rank, rank 0's quoting the first rank's message (its own first).
  void check_ok(const std::string& error) const;

  /// Ends every process of the job with this exit code (MPI_Abort): for an
  /// error one rank met alone, after printing it. Never returns.
  [[noreturn]] void abort(int code) const;

 private:
  std::vector<std::string> gather_text(const std::string& text) const;  // at rank 0; empty elsewhere
  int rank_ = 0, size_ = 1;
};

/// How GradientReducer sums the ranks' gradients.
enum class Reduction {
  /// Default. A reduce-scatter with a fixed order, then an allgather: the
  /// fused buffer is cut into size() equal chunks; rank r receives chunk r
  /// of every rank (MPI_Alltoall) and adds them in rank order,
  /// ((g₀ + g₁) + g₂) + … + g_{N−1}, in float32; MPI_Allgather then gives
  /// every rank every summed chunk. The order is documented and the same
  /// for any message size, MPI library or network, and each sum is computed
  /// once, so all replicas get the same bits. Traffic per rank is that of a
  /// bandwidth-optimal allreduce: 2·(N−1)/N of the buffer each way.
  RankOrder,
  /// One MPI_Allreduce(MPI_SUM) over the fused buffer: the MPI library
  /// chooses the algorithm, hence the order of the additions, from N and
  /// the size (with 2 ranks there is one addition, so it equals RankOrder).
  /// Kept to measure against.
  MpiAllreduce,
};

/// Sums the gradients of a model's parameters over all ranks in one fused
/// float32 buffer per step. Parameters are packed in the order given (use
/// the same model, hence the same order, on every rank).
class GradientReducer {
 public:
  /// The buffer is allocated here, once; params must outlive the reducer.
  /// extras: how many extra values each reduce() sums alongside.
  GradientReducer(const World& world, std::vector<nn::Parameter*> params, int extras = 0,
                  Reduction how = Reduction::RankOrder);

  /// grad ← Σ_r scale_r · grad_r for every parameter, where rank r passes
  /// scale_r (e.g. its local / global batch size, so that the sum of mean
  /// losses' gradients is the gradient of the global batch's mean). extra
  /// holds the constructor's number of values to sum alongside, in place
  /// (unscaled, e.g. the loss sum and the count of right predictions):
  /// still one buffer, one exchange.
  void reduce(float scale, float* extra = nullptr);

  /// Bytes of gradients summed per step (4 × the number of parameters).
  int64_t bytes_per_step() const { return 4 * numel_; }
  /// Bytes this rank sends (and receives) per step.
  int64_t bytes_sent_per_step() const;
  /// Seconds spent in reduce() so far (packing, exchange, unpacking).
  double seconds() const { return seconds_; }
  /// Number of reduce() calls so far.
  int64_t calls() const { return calls_; }

 private:
  const World& world_;
  std::vector<nn::Parameter*> params_;
  Reduction how_;
  int extras_ = 0;
  int64_t numel_ = 0, chunk_ = 0;
  std::vector<float> buf_, recv_;
  double seconds_ = 0;
  int64_t calls_ = 0;
};

}  // namespace nabla::dist
