#include "common/sql/connection.h"

#include <chrono>
#include <random>
#include <thread>
#include <utility>

namespace edge::sql {
namespace {

// Distinct SQL texts kept prepared per connection. The store's statements are a fixed set, far
// below this; the cap only keeps a caller that builds SQL texts from values from growing it.
constexpr size_t kMaxCachedTexts = 512;

// Before running a conflicted transaction again: a few milliseconds, more each attempt, with
// jitter so that two controllers that collided do not collide again in step.
void BackOff(int attempt) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<int> jitter(0, 2000 * attempt);
  std::this_thread::sleep_for(std::chrono::microseconds(500 * attempt + jitter(random)));
}

}  // namespace

Statement::Statement(Statement&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), impl_(std::move(other.impl_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Statement::~Statement() { Release(); }

void Statement::Release() {
  if (owner_ && impl_) owner_->Return(std::move(impl_));
  owner_ = nullptr;
}

Statement& Statement::Bind(int index, int64_t value) {
  impl_->Bind(index, value);
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  impl_->Bind(index, text);
  return *this;
}
Statement& Statement::BindBlob(int index, std::string_view bytes) {
  impl_->BindBlob(index, bytes);
  return *this;
}
Statement& Statement::BindNull(int index) {
  impl_->BindNull(index);
  return *this;
}

Result<bool> Statement::Step() { return impl_->Step(); }

Status Statement::Run() {
  auto r = impl_->Step();
  if (!r) return Fail(r.error());
  return Ok();
}

Result<int64_t> Statement::RunReturningId() {
  EDGE_ASSIGN_OR_RETURN(bool row, impl_->Step());
  if (!row) return Fail(ErrorCode::kInternal, "'" + impl_->sql() + "' returned no id");
  const int64_t id = impl_->Int(0);
  // SQLite finishes the insert's statement only at its last step.
  EDGE_TRY(impl_->Step());
  return id;
}

void Statement::Reset() { impl_->Reset(); }
int64_t Statement::Int(int column) const { return impl_->Int(column); }
std::string Statement::Text(int column) const { return impl_->Text(column); }
std::string Statement::Blob(int column) const { return impl_->Blob(column); }
bool Statement::IsNull(int column) const { return impl_->IsNull(column); }

Connection::~Connection() = default;

Result<Statement> Connection::Prepare(std::string_view sql) {
  if (auto it = idle_.find(std::string(sql)); it != idle_.end() && !it->second.empty()) {
    auto impl = std::move(it->second.back());
    it->second.pop_back();
    return Statement(this, std::move(impl));
  }
  EDGE_ASSIGN_OR_RETURN(auto impl, PrepareNew(sql));
  ++statements_prepared_;
  return Statement(this, std::move(impl));
}

void Connection::Return(std::unique_ptr<StatementImpl> impl) {
  impl->Reset();
  auto it = idle_.find(impl->sql());
  if (it == idle_.end()) {
    if (idle_.size() >= kMaxCachedTexts) return;  // finalized
    it = idle_.emplace(impl->sql(), std::vector<std::unique_ptr<StatementImpl>>{}).first;
  }
  it->second.push_back(std::move(impl));
}

Status Connection::RunTransaction(Kind kind, const std::function<Status()>& body) {
  if (in_transaction_) return body();  // joins the enclosing transaction
  for (int attempt = 1;; ++attempt) {
    EDGE_ASSIGN_OR_RETURN(bool began, Begin(kind));
    if (!began) return body();
    in_transaction_ = true;
    Status s = body();
    if (s) s = Commit();
    in_transaction_ = false;
    if (s) return s;
    Rollback();
    if (!TakeConflict()) return s;
    if (attempt == kWriteAttempts)
      return Fail(ErrorCode::kUnavailable,
                  s.error().message + " (" + Describe() + ": the transaction conflicted with other writers " +
                      std::to_string(attempt) + " times in a row; try again)");
    ++transactions_retried_;
    BackOff(attempt);
  }
}

}  // namespace edge::sql
