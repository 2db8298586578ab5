// Fiber stacks: mmap'ed address space with a guard region below each stack,
// committed lazily by the kernel as the fiber touches it.
//
// Stacks of the runtime's default size are carved from arenas (one mapping
// for many stacks) so that a million fibers do not need two million kernel
// memory areas (vm.max_map_count is 65530 by default). Guards are installed
// with MADV_GUARD_INSTALL (Linux 6.13+), which does not split the mapping;
// on older kernels mprotect(PROT_NONE) is used, which does, and then at most
// ~32,000 fibers can be alive unless vm.max_map_count is raised.
// Stacks of other sizes get a mapping each and are unmapped when freed.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace goro::rt {

// Bytes of inaccessible address space below every stack (address space
// only: it costs no memory). A function touches its frame wherever it
// likes, so a frame larger than the guard could step over it into the
// neighbouring stack; 64 KiB covers frames up to that size from code built
// without stack probing, and goro::goro passes -fstack-clash-protection to
// the code that links it, which probes larger frames page by page.
inline constexpr std::size_t stack_guard_size = 64 * 1024;

struct stack {
  char* guard = nullptr;   // lowest address: the guard region
  std::size_t usable = 0;  // bytes above the guard
  bool own_mapping = false;

  char* lo() const { return guard + stack_guard_size; }
  char* hi() const { return lo() + usable; }
  bool in_guard(const void* addr) const {
    auto* a = static_cast<const char*>(addr);
    return a >= guard && a < lo();
  }
};

std::size_t page_size() noexcept;
// Round a requested stack size to whole pages, at least 16 KiB.
std::size_t normalize_stack_size(std::size_t bytes) noexcept;

class stack_pool {
 public:
  explicit stack_pool(std::size_t default_usable);
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  std::size_t default_usable() const { return default_usable_; }

  // Throws std::bad_alloc when the kernel refuses the mapping or the guard.
  stack allocate(std::size_t usable);
  // Only stacks with own_mapping are released individually; arena stacks live
  // until the pool is destroyed (they are cached with their fiber).
  void release(stack& s) noexcept;
  // Never unmap the arenas (stacks of fibers that must stay reachable).
  void keep_arenas() noexcept;

 private:
  std::size_t default_usable_;
  std::size_t slot_size_;  // guard + usable
  std::mutex mu_;
  std::vector<std::pair<char*, std::size_t>> arenas_;  // under mu_
  char* next_ = nullptr;   // next free slot in the newest arena, under mu_
  char* end_ = nullptr;
};

}  // namespace goro::rt
