#include "agent/serve/registry.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/core/histogram.h"

namespace edge::serve {

namespace {

// 1-2-5 steps from 10 µs to 10 s: readable bucket edges in a health report.
constexpr std::array<int64_t, LatencyHistogram::kBuckets - 1> kUpperNs = {
    10'000,      20'000,      50'000,      100'000,       200'000,       500'000,      1'000'000,
    2'000'000,   5'000'000,   10'000'000,  20'000'000,    50'000'000,    100'000'000,  200'000'000,
    500'000'000, 1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000};

std::string FirstNonFinite(const engine::Model& model, const ContextLease& lease) {
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    const auto values = lease.output(i);
    for (size_t j = 0; j < values.size(); ++j) {
      if (!std::isfinite(values[j])) {
        return model.outputs()[i].name + "[" + std::to_string(j) + "] = " + std::to_string(values[j]);
      }
    }
  }
  return {};
}

}  // namespace

// ---- InferenceMetrics ----

InferenceMetrics InferenceMetrics::For(metrics::Registry& registry, const std::string& model,
                                       const std::string& version) {
  // The health reports' bucket edges, in seconds.
  static const std::vector<double> kUpperSeconds = [] {
    std::vector<double> s;
    for (auto ns : kUpperNs) s.push_back(static_cast<double>(ns) * 1e-9);
    return s;
  }();
  const metrics::Labels labels = {{"model", model}, {"version", version}};
  return {registry.Counters("edgefleet_agent_inferences_total", "Model runs, failed ones included, by model version.")
              .With(labels),
          registry.Counters("edgefleet_agent_inference_errors_total",
                            "Model runs that failed or gave a non-finite output, by model version.")
              .With(labels),
          registry.Histograms("edgefleet_agent_inference_duration_seconds", "Duration of model runs, by model version.",
                              kUpperSeconds)
              .With(labels)};
}

// ---- LatencyHistogram ----

int64_t LatencyHistogram::BucketUpperNs(size_t i) {
  return i < kUpperNs.size() ? kUpperNs[i] : std::numeric_limits<int64_t>::max();
}

void LatencyHistogram::Record(int64_t ns) {
  const auto it = std::lower_bound(kUpperNs.begin(), kUpperNs.end(), ns);
  counts_[static_cast<size_t>(it - kUpperNs.begin())].fetch_add(1, std::memory_order_relaxed);
}

LatencyHistogram::Counts LatencyHistogram::Snapshot() const {
  Counts out{};
  for (size_t i = 0; i < kBuckets; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

double LatencyHistogram::PercentileUs(const Counts& counts, double p) {
  static const auto kUpperUs = [] {
    std::array<double, kUpperNs.size()> us{};
    for (size_t i = 0; i < us.size(); ++i) us[i] = static_cast<double>(kUpperNs[i]) / 1000.0;
    return us;
  }();
  return BucketPercentile(kUpperUs, counts, p);
}

// ---- ContextLease ----

struct ContextLease::Slot {
  std::unique_ptr<engine::ExecutionContext> context;
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<float>> outputs;
  std::vector<const float*> input_ptrs;
  std::vector<float*> output_ptrs;
  int64_t batch = 1;
};

namespace {

// Buffers of those sizes (reusing their memory when it suffices) and the pointers Run takes.
void SizeBuffers(const std::vector<engine::TensorInfo>& infos, std::vector<std::vector<float>>& buffers,
                 auto& pointers) {
  buffers.resize(infos.size());
  pointers.resize(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    buffers[i].resize(static_cast<size_t>(infos[i].elements));
    pointers[i] = buffers[i].data();
  }
}

}  // namespace

void ContextLease::Bind(int64_t batch, const engine::BatchShapes& shapes) {
  SizeBuffers(shapes.inputs, slot_->inputs, slot_->input_ptrs);
  SizeBuffers(shapes.outputs, slot_->outputs, slot_->output_ptrs);
  slot_->batch = batch;
}

ContextLease::ContextLease(std::shared_ptr<ServedVersion> version, std::unique_ptr<Slot> slot)
    : version_(std::move(version)), slot_(std::move(slot)) {}

ContextLease::ContextLease(ContextLease&&) noexcept = default;

ContextLease::~ContextLease() {
  if (slot_) version_->Release(std::move(slot_));
}

std::span<float> ContextLease::input(size_t i) { return slot_->inputs.at(i); }
std::span<const float> ContextLease::output(size_t i) const { return slot_->outputs.at(i); }

Status ContextLease::Run() {
  engine::RunTiming timing;
  Status status = slot_->context->RunBatch(slot_->batch, slot_->input_ptrs, slot_->output_ptrs, &timing);
  if (status) {
    if (std::string where = FirstNonFinite(version_->model(), *this); !where.empty()) {
      status = Fail(ErrorCode::kInternal, "model " + version_->model_name() + ":" + version_->version() +
                                              " produced a non-finite output (" + where + ")");
    }
  } else {
    status = Fail(status.error().Wrap("model " + version_->model_name() + ":" + version_->version()));
  }
  version_->RecordRun(timing.total_ns, status.has_value());
  return status;
}

// ---- ServedVersion ----

ServedVersion::ServedVersion(std::string model_name, std::string version,
                             std::shared_ptr<const engine::Model> model, int max_contexts,
                             engine::KernelTier tier, InferenceMetrics metrics)
    : model_name_(std::move(model_name)),
      version_(std::move(version)),
      model_(std::move(model)),
      tier_(tier),
      max_contexts_(std::max(1, max_contexts)),
      metrics_(metrics) {}

ServedVersion::~ServedVersion() = default;

ContextLease ServedVersion::Acquire() {
  std::unique_lock lock(pool_mutex_);
  pool_cv_.wait(lock, [&] { return !free_.empty() || created_ < max_contexts_; });
  if (!free_.empty()) {
    auto slot = std::move(free_.back());
    free_.pop_back();
    return ContextLease(shared_from_this(), std::move(slot));
  }
  ++created_;
  lock.unlock();
  // Growing the pool allocates an arena: done outside the lock, once per context, not per request.
  auto slot = std::make_unique<ContextLease::Slot>();
  slot->context = std::make_unique<engine::ExecutionContext>(model_, tier_);
  SizeBuffers(model_->inputs(), slot->inputs, slot->input_ptrs);
  SizeBuffers(model_->outputs(), slot->outputs, slot->output_ptrs);
  return ContextLease(shared_from_this(), std::move(slot));
}

void ServedVersion::Release(std::unique_ptr<ContextLease::Slot> slot) {
  if (slot->batch != 1) {
    // Back to batch 1 for the next lease, giving back what the batch took: the buffers, the
    // context's arena and its hold on the batch's plan (which the model's cache then bounds).
    slot->inputs.clear();
    slot->outputs.clear();
    slot->inputs.shrink_to_fit();
    slot->outputs.shrink_to_fit();
    SizeBuffers(model_->inputs(), slot->inputs, slot->input_ptrs);
    SizeBuffers(model_->outputs(), slot->outputs, slot->output_ptrs);
    slot->context->ReleaseBatchPlan();
    slot->batch = 1;
  }
  std::unique_ptr<ContextLease::Slot> surplus;
  {
    std::lock_guard lock(pool_mutex_);
    if (created_ > max_contexts_) {
      --created_;
      surplus = std::move(slot);  // freed after the lock is dropped
    } else {
      free_.push_back(std::move(slot));
    }
  }
  pool_cv_.notify_one();
}

void ServedVersion::SetMaxContexts(int max_contexts) {
  {
    std::lock_guard lock(pool_mutex_);
    max_contexts_ = std::max(1, max_contexts);
    while (created_ > max_contexts_ && !free_.empty()) {
      free_.pop_back();
      --created_;
    }
  }
  pool_cv_.notify_all();
}

void ServedVersion::RecordRun(int64_t ns, bool ok) {
  inferences_.fetch_add(1, std::memory_order_relaxed);
  if (!ok) errors_.fetch_add(1, std::memory_order_relaxed);
  latency_.Record(ns);
  metrics_.inferences.Increment();
  if (!ok) metrics_.errors.Increment();
  metrics_.latency_seconds.Observe(static_cast<double>(ns) * 1e-9);
}

const engine::BatchShapes* ServedVersion::ShapesAtBatchTwo() const {
  std::call_once(batch_two_once_, [this] {
    if (!model_->dynamic_batch() || model_->max_batch() < 2) return;
    if (auto shapes = model_->ShapesFor(2)) batch_two_ = std::move(*shapes);
  });
  return batch_two_ ? &*batch_two_ : nullptr;
}

void ServedVersion::RecordRejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }

Stats ServedVersion::Snapshot() const {
  Stats stats;
  stats.model = model_name_;
  stats.version = version_;
  stats.inferences = inferences_.load(std::memory_order_relaxed);
  stats.errors = errors_.load(std::memory_order_relaxed);
  stats.rejected = rejected_.load(std::memory_order_relaxed);
  stats.latency_buckets = latency_.Snapshot();
  stats.p50_us = LatencyHistogram::PercentileUs(stats.latency_buckets, 50);
  stats.p99_us = LatencyHistogram::PercentileUs(stats.latency_buckets, 99);
  return stats;
}

// ---- Registry ----

Registry::Registry(int max_contexts_per_version, engine::KernelTier tier, metrics::Registry& metrics)
    : max_contexts_(std::max(1, max_contexts_per_version)), tier_(tier), metrics_(metrics) {}

void Registry::Activate(const std::string& model, const std::string& version,
                        std::shared_ptr<const engine::Model> loaded) {
  std::shared_ptr<ServedVersion> replaced;  // destroyed outside the lock
  auto counted = InferenceMetrics::For(metrics_, model, version);
  std::unique_lock lock(mutex_);
  auto next = std::make_shared<ServedVersion>(model, version, std::move(loaded), max_contexts_, tier_, counted);
  auto& slot = served_[model];
  replaced = std::exchange(slot, std::move(next));
  lock.unlock();
}

void Registry::Remove(const std::string& model) {
  std::shared_ptr<ServedVersion> removed;
  std::unique_lock lock(mutex_);
  if (auto it = served_.find(model); it != served_.end()) {
    removed = std::move(it->second);
    served_.erase(it);
  }
  lock.unlock();
}

Result<std::shared_ptr<ServedVersion>> Registry::Find(std::string_view model,
                                                      std::string_view version) const {
  std::shared_lock lock(mutex_);
  auto it = served_.find(model);
  if (it == served_.end()) {
    return Fail(ErrorCode::kNotFound, "model '" + std::string(model) + "' is not served here");
  }
  if (!version.empty() && version != it->second->version()) {
    return Fail(ErrorCode::kNotFound, "model '" + std::string(model) + "' version '" +
                                          std::string(version) + "' is not served (serving '" +
                                          it->second->version() + "')");
  }
  return it->second;
}

Result<Stats> Registry::Snapshot(const std::string& model) const {
  EDGE_ASSIGN_OR_RETURN(auto served, Find(model, ""));
  return served->Snapshot();
}

std::vector<ServedInfo> Registry::List() const {
  std::shared_lock lock(mutex_);
  std::vector<ServedInfo> out;
  out.reserve(served_.size());
  for (const auto& [name, served] : served_) out.push_back({name, served->version()});
  return out;
}

size_t Registry::size() const {
  std::shared_lock lock(mutex_);
  return served_.size();
}

void Registry::SetMaxContextsPerVersion(int max_contexts) {
  std::unique_lock lock(mutex_);
  max_contexts_ = std::max(1, max_contexts);
  for (const auto& [name, served] : served_) served->SetMaxContexts(max_contexts_);
}

}  // namespace edge::serve
