// An intrusive FIFO of blocked parties for the sync primitives, doubly
// linked so that a party whose timed wait expired can take itself out.
// Every operation is done under the owning primitive's lock.
#pragma once

#include "goro/detail/runtime_api.hpp"

namespace goro::detail {

struct wait_node {
  parker p;
  wait_node* next = nullptr;
  wait_node* prev = nullptr;
  bool queued = false;
  bool timed = false;  // wakers must win parker_claim first
};

struct wait_list {
  wait_node* head = nullptr;
  wait_node* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }

  void push_back(wait_node* w) noexcept {
    w->next = nullptr;
    w->prev = tail;
    if (tail) tail->next = w; else head = w;
    tail = w;
    w->queued = true;
  }
  void push_front(wait_node* w) noexcept {
    w->prev = nullptr;
    w->next = head;
    if (head) head->prev = w; else tail = w;
    head = w;
    w->queued = true;
  }
  void remove(wait_node* w) noexcept {
    if (!w->queued) return;
    if (w->prev) w->prev->next = w->next; else head = w->next;
    if (w->next) w->next->prev = w->prev; else tail = w->prev;
    w->next = w->prev = nullptr;
    w->queued = false;
  }
  // The oldest party that may be woken: a timed one must be claimed (one
  // whose timeout won is dropped; it cleans up after itself).
  wait_node* pop() noexcept {
    while (wait_node* w = head) {
      remove(w);
      if (!w->timed || parker_claim(w->p)) return w;
    }
    return nullptr;
  }
};

}  // namespace goro::detail
