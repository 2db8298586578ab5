// goro::shared_mutex (Go's sync.RWMutex).
//
// readers_ counts active readers; a writer subtracts max_readers, making it
// negative, so arriving readers see a writer and wait on reader_sem_. The
// writer then waits for the readers already inside: it adds their number
// to departing_, and the last of them to leave wakes it.
#include "debug/fatal.hpp"
#include "goro/detail/thread_role.hpp"
#include "goro/sync.hpp"

namespace goro {

void shared_mutex::lock_shared() {
  goro::detail::note_thread_use();
  // acquire: see the writes of the last writer.
  if (readers_.fetch_add(1, std::memory_order_acquire) < 0)
    reader_sem_.acquire(detail::wait_reason::rwmutex_read, false, &withdraw_reader, this);  // a writer holds or waits
}

// The runtime unwinds parked fibers (sched/leftover.hpp) while no fiber
// runs, so no lock or unlock is half done here; what a cancelled waiter
// counted is undone before anyone can look. relaxed: no data is handed
// over, and RMWs keep the release sequences that order critical sections.

void shared_mutex::withdraw_reader(void* self) noexcept {
  // A reader queued behind a writer had counted itself in readers_.
  static_cast<shared_mutex*>(self)->readers_.fetch_sub(1, std::memory_order_relaxed);
}

void shared_mutex::withdraw_writer(void* self) noexcept {
  // A writer holding writer_ and waiting for the readers inside to leave
  // gives up: it no longer announces itself (readers_ back above zero, so
  // departing readers stop counting down departing_), and writer_ is
  // released. Not writer_.unlock(): that may wake (ready) a writer queued
  // on writer_, which is being cancelled too; this raw release wakes
  // nobody, and each queued writer's own withdraw_waiter clears its count.
  auto* m = static_cast<shared_mutex*>(self);
  m->readers_.fetch_add(max_readers, std::memory_order_relaxed);
  m->departing_.store(0, std::memory_order_relaxed);
  // release: like an unlock, though nothing was written under it.
  m->writer_.state_.fetch_sub(mutex::locked_bit, std::memory_order_release);
}

bool shared_mutex::try_lock_shared() noexcept {
  goro::detail::note_thread_use();
  std::int32_t c = readers_.load(std::memory_order_relaxed);
  while (c >= 0)
    if (readers_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
  return false;
}

void shared_mutex::unlock_shared() {
  goro::detail::note_thread_use();
  // release: our reads happen before a writer's writes.
  const std::int32_t r = readers_.fetch_sub(1, std::memory_order_release) - 1;
  if (r >= 0) return;
  if (r + 1 == 0 || r + 1 == -max_readers)
    rt::fatal("goro::shared_mutex::unlock_shared", "unlock of unlocked shared_mutex");
  // A writer waits for the readers that were inside; the last one wakes it.
  if (departing_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) writer_sem_.release();
}

void shared_mutex::lock() {
  goro::detail::note_thread_use();
  writer_.lock();  // one writer at a time
  // acq_rel: acquire the departed readers' releases; announce the writer.
  const std::int32_t r = readers_.fetch_sub(max_readers, std::memory_order_acq_rel);
  if (r != 0 && departing_.fetch_add(r, std::memory_order_acq_rel) + r != 0)
    writer_sem_.acquire(detail::wait_reason::rwmutex_write, false, &withdraw_writer, this);
}

bool shared_mutex::try_lock() {
  goro::detail::note_thread_use();
  if (!writer_.try_lock()) return false;
  std::int32_t none = 0;
  if (!readers_.compare_exchange_strong(none, -max_readers, std::memory_order_acquire, std::memory_order_relaxed)) {
    writer_.unlock();
    return false;
  }
  return true;
}

void shared_mutex::unlock() {
  goro::detail::note_thread_use();
  // release: our writes happen before the readers we let in.
  const std::int32_t r = readers_.fetch_add(max_readers, std::memory_order_release) + max_readers;
  if (r >= max_readers) rt::fatal("goro::shared_mutex::unlock", "unlock of unlocked shared_mutex");
  reader_sem_.release(static_cast<std::uint64_t>(r));  // readers that arrived meanwhile
  writer_.unlock();
}

}  // namespace goro
