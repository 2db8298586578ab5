#include "fiber/stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <new>

#include "debug/resources.hpp"

namespace goro::rt {

std::size_t page_size() noexcept {
  static const std::size_t ps = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return ps;
}

namespace {

#ifndef MADV_GUARD_INSTALL
constexpr int MADV_GUARD_INSTALL = 102;
#endif

constexpr std::size_t stacks_per_arena = 64;

// Whether this kernel supports MADV_GUARD_INSTALL: 0 unknown, 1 yes, 2 no.
// A cached fact about the kernel, not scheduler state.
std::atomic<int> guard_mode{0};

bool install_guard(char* addr, std::size_t len) {
  // relaxed: every thread computes the same answer.
  if (guard_mode.load(std::memory_order_relaxed) != 2) {
    if (madvise(addr, len, MADV_GUARD_INSTALL) == 0) {
      guard_mode.store(1, std::memory_order_relaxed);
      return true;
    }
    if (errno != EINVAL) return false;
    guard_mode.store(2, std::memory_order_relaxed);
  }
  return mprotect(addr, len, PROT_NONE) == 0;
}

#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;
#endif

// Whether MADV_POPULATE_WRITE works here (Linux 5.14+): 0 unknown/yes, 2 no.
std::atomic<int> populate_mode{0};

// Commit the top page of a new stack, where the G, the callable and the
// first frames go, with one system call instead of a page fault (cheaper on
// virtual machines, where first-touch faults are slow: docs/benchmarks.md).
// Best effort.
void prefault_top(char* hi) {
  if (populate_mode.load(std::memory_order_relaxed) == 2) return;  // relaxed: a cached kernel fact
  const std::size_t ps = page_size();
  if (madvise(hi - ps, ps, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
    populate_mode.store(2, std::memory_order_relaxed);
}

char* map(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // A stack needs a page or two of real memory, not a 2 MiB transparent huge
  // page (zeroed on first touch, then split again by the next guard).
  madvise(p, bytes, MADV_NOHUGEPAGE);
  resources::stack_mappings.fetch_add(1, std::memory_order_relaxed);
  return static_cast<char*>(p);
}

void unmap(char* base, std::size_t len) noexcept {
  munmap(base, len);
  resources::stack_mappings.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace

std::size_t normalize_stack_size(std::size_t bytes) noexcept {
  const std::size_t ps = page_size();
  if (bytes < 16 * 1024) bytes = 16 * 1024;
  return (bytes + ps - 1) / ps * ps;
}

stack_pool::stack_pool(std::size_t default_usable)
    : default_usable_(normalize_stack_size(default_usable)),
      slot_size_(stack_guard_size + default_usable_) {}

stack_pool::~stack_pool() {
  for (auto& [base, len] : arenas_) unmap(base, len);
}

stack stack_pool::allocate(std::size_t usable) {
  usable = normalize_stack_size(usable);
  stack s;
  s.usable = usable;
  if (usable != default_usable_) {
    s.own_mapping = true;
    s.guard = map(stack_guard_size + usable);
    if (!install_guard(s.guard, stack_guard_size)) {
      unmap(s.guard, stack_guard_size + usable);
      throw std::bad_alloc();
    }
    prefault_top(s.hi());
    return s;
  }
  std::lock_guard<std::mutex> l(mu_);
  if (next_ == end_) {
    std::size_t len = slot_size_ * stacks_per_arena;
    char* base = map(len);
    arenas_.emplace_back(base, len);
    next_ = base;
    end_ = base + len;
  }
  if (!install_guard(next_, stack_guard_size)) throw std::bad_alloc();
  s.guard = next_;
  next_ += slot_size_;
  prefault_top(s.hi());
  return s;
}

void stack_pool::keep_arenas() noexcept {
  std::lock_guard<std::mutex> l(mu_);
  arenas_.clear();
}

void stack_pool::release(stack& s) noexcept {
  if (s.own_mapping && s.guard) unmap(s.guard, stack_guard_size + s.usable);
  s.guard = nullptr;
}

}  // namespace goro::rt
