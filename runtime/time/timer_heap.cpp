#include "time/timer_heap.hpp"

namespace goro::rt {

using detail::timer_node;

void timer_heap::set_at(std::size_t i, entry e) noexcept {
  h_[i] = e;
  timer_access::index(e.t) = static_cast<std::int32_t>(i);
}

void timer_heap::sift_up(std::size_t i) noexcept {
  const entry e = h_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (h_[parent].when <= e.when) break;
    set_at(i, h_[parent]);
    i = parent;
  }
  set_at(i, e);
}

void timer_heap::sift_down(std::size_t i) noexcept {
  const std::size_t n = h_.size();
  const entry e = h_[i];
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = first + 4 < n ? first + 4 : n;
    for (std::size_t c = first + 1; c < last; c++)
      if (h_[c].when < h_[best].when) best = c;
    if (e.when <= h_[best].when) break;
    set_at(i, h_[best]);
    i = best;
  }
  set_at(i, e);
}

void timer_heap::update_earliest() noexcept {
  earliest.store(h_.empty() ? 0 : h_[0].when, std::memory_order_relaxed);
}

void timer_heap::remove_at(std::size_t i) noexcept {
  timer_node* t = h_[i].t;
  const entry last = h_.back();
  h_.pop_back();
  if (i < h_.size()) {
    set_at(i, last);
    sift_down(i);
    sift_up(static_cast<std::size_t>(timer_access::index(last.t)));
  }
  timer_access::index(t) = -1;
  timer_access::set_holder(t, nullptr);
}

bool timer_heap::push(timer_node* t) {
  h_.push_back({t->when, t});
  sift_up(h_.size() - 1);
  timer_access::set_holder(t, this);
  update_earliest();
  return h_[0].t == t;
}

void timer_heap::remove(timer_node* t) noexcept {
  remove_at(static_cast<std::size_t>(timer_access::index(t)));
  update_earliest();
}

bool timer_heap::run_due(std::int64_t now, std::size_t max) {
  bool fired = false;
  for (std::size_t n = 0; n < max && !h_.empty() && h_[0].when <= now; n++) {
    timer_node* t = h_[0].t;
    if (t->period > 0) {
      // Re-arm first (fire may not outlive the timer otherwise): skip the
      // periods already missed, like Go's ticker.
      t->when += t->period * (1 + (now - t->when) / t->period);
      h_[0].when = t->when;
      sift_down(0);
    } else {
      remove_at(0);
    }
    fired = true;
    t->fire(t, now);  // a one-shot may free t in here
  }
  update_earliest();
  return fired;
}

void timer_heap::drop_all() noexcept {
  for (const entry& e : h_) {
    timer_node* t = e.t;
    timer_access::index(t) = -1;
    timer_access::set_holder(t, nullptr);
    if (t->drop) t->drop(t);
  }
  h_.clear();
  update_earliest();
}

}  // namespace goro::rt
