#include "nabla/dist/mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace nabla::dist {

namespace {

// MPI's default error handler on MPI_COMM_WORLD aborts the job with a
// message of its own; every call is checked anyway so that a handler that
// returns cannot let a failure pass silently.
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(call) + " failed: " + std::string(text, static_cast<size_t>(len)));
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// MPI counts are int: exchange long buffers in pieces of at most 2^30.
constexpr int64_t kMaxCount = int64_t{1} << 30;

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

World::World(int& argc, char**& argv) {
  int done = 0;
  MPI_Initialized(&done);
  if (done) throw Error("dist::World: MPI is initialised already (one World per process)");
  int provided = 0;
  // FUNNELED: only this thread calls MPI; oneTBB's workers only compute.
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

World::~World() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void World::broadcast(std::vector<Tensor> tensors, int root) const {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  std::vector<float> buf(static_cast<size_t>(n));
  float* p = buf.data();
  if (rank_ == root)
    for (const Tensor& t : tensors) {
      std::memcpy(p, t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
      p += t.numel();
    }
  for (int64_t i = 0; i < n; i += kMaxCount)
    check(MPI_Bcast(buf.data() + i, static_cast<int>(std::min(kMaxCount, n - i)), MPI_FLOAT, root, MPI_COMM_WORLD),
          "MPI_Bcast");
  p = buf.data();
  for (Tensor& t : tensors) {
    std::memcpy(t.data(), p, static_cast<size_t>(t.numel()) * sizeof(float));
    p += t.numel();
  }
}

void World::barrier() const { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void World::sum(double* values, int n) const {
  check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

std::vector<std::string> World::gather_text(const std::string& text) const {
  int len = static_cast<int>(text.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[static_cast<size_t>(r)] = total;
    total += lens[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  check(MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> out;
  if (rank_ == 0)
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]),
                               static_cast<size_t>(lens[static_cast<size_t>(r)])));
  return out;
}

void World::check_same(const std::string& text, const std::string& what) const {
  const uint64_t h = fnv1a(text);
  unsigned long long v[2] = {h, ~h};  // max of h, and ~(min of h)
  check(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  if (v[0] == ~v[1]) return;
  const std::vector<std::string> texts = gather_text(text);
  if (rank_ != 0) throw CollectiveError(what + " differ between the ranks (rank 0 reports them)");
  std::string msg = what + " differ between the " + std::to_string(size_) + " ranks: rank 0 has '" + texts[0] + "'";
  int listed = 0;
  for (int r = 1; r < size_ && listed < 3; ++r)
    if (texts[static_cast<size_t>(r)] != texts[0]) {
      msg += ", rank " + std::to_string(r) + " '" + texts[static_cast<size_t>(r)] + "'";
      ++listed;
    }
  throw CollectiveError(msg + " (start every rank with the same options)");
}

void World::check_ok(const std::string& error) const {
  int failed = error.empty() ? 0 : 1;
  check(MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  if (!failed) return;
  const std::vector<std::string> texts = gather_text(error);
  if (rank_ != 0) throw CollectiveError(error.empty() ? "another rank failed (rank 0 reports it)" : error);
  if (!error.empty()) throw CollectiveError(error);
  for (int r = 1; r < size_; ++r)
    if (!texts[static_cast<size_t>(r)].empty())
      throw CollectiveError("rank " + std::to_string(r) + ": " + texts[static_cast<size_t>(r)]);
  throw CollectiveError("a rank failed");  // not reached
}

void World::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; in case it does
}

// ---- gradients ------------------------------------------------------------

GradientReducer::GradientReducer(const World& world, std::vector<nn::Parameter*> params, int extras, Reduction how)
    : world_(world), params_(std::move(params)), how_(how), extras_(extras) {
  if (extras < 0) throw Error("GradientReducer: " + std::to_string(extras) + " extra values");
  for (const nn::Parameter* p : params_) numel_ += p->grad.numel();
  const int64_t n = world_.size(), total = numel_ + extras_;
  chunk_ = (total + n - 1) / n;
  if (chunk_ > kMaxCount)
    throw Error("GradientReducer: " + std::to_string(total) + " values on " + std::to_string(n) +
                " ranks exceed MPI's int count per chunk");
  if (how_ == Reduction::MpiAllreduce && total > kMaxCount)
    throw Error("GradientReducer: " + std::to_string(total) + " values exceed MPI's int count");
  buf_.assign(static_cast<size_t>(chunk_ * n), 0.f);
  if (how_ == Reduction::RankOrder) recv_.assign(static_cast<size_t>(chunk_ * n), 0.f);
}

int64_t GradientReducer::bytes_sent_per_step() const {
  const int64_t n = world_.size();
  return how_ == Reduction::RankOrder ? 2 * (n - 1) * chunk_ * 4 : 2 * (n - 1) * ((numel_ + extras_) * 4) / n;
}

void GradientReducer::reduce(float scale, float* extra) {
  const auto t0 = std::chrono::steady_clock::now();
  const int n = world_.size();
  float* b = buf_.data();
  for (nn::Parameter* p : params_) {
    const float* g = p->grad.data();
    const int64_t m = p->grad.numel();
    if (scale == 1.f) std::memcpy(b, g, static_cast<size_t>(m) * sizeof(float));
    else
      for (int64_t i = 0; i < m; ++i) b[i] = scale * g[i];
    b += m;
  }
  for (int i = 0; i < extras_; ++i) b[i] = extra[i];
  if (n > 1) {
    if (how_ == Reduction::RankOrder) {
      const int c = static_cast<int>(chunk_);
      check(MPI_Alltoall(buf_.data(), c, MPI_FLOAT, recv_.data(), c, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Alltoall");
      // recv_ holds chunk rank() of ranks 0, 1, ..., N-1: sum in that order.
      float* mine = buf_.data() + static_cast<int64_t>(world_.rank()) * chunk_;
      std::memcpy(mine, recv_.data(), static_cast<size_t>(c) * sizeof(float));
      for (int r = 1; r < n; ++r) {
        const float* src = recv_.data() + static_cast<int64_t>(r) * chunk_;
        for (int i = 0; i < c; ++i) mine[i] += src[i];
      }
      check(MPI_Allgather(MPI_IN_PLACE, c, MPI_FLOAT, buf_.data(), c, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgather");
    } else {
      check(MPI_Allreduce(MPI_IN_PLACE, buf_.data(), static_cast<int>(numel_ + extras_), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
  }
  b = buf_.data();
  for (nn::Parameter* p : params_) {
    std::memcpy(p->grad.data(), b, static_cast<size_t>(p->grad.numel()) * sizeof(float));
    b += p->grad.numel();
  }
  for (int i = 0; i < extras_; ++i) extra[i] = b[i];
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++calls_;
}

}  // namespace nabla::dist
