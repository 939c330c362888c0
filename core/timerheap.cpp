#include "timerheap.h"

#include <algorithm>

// A deadline before the clock's epoch (a wrapped sum) is simply in the past: it fires at
// the next fireDue() instead of reading as "no timer" and wedging the heap.
TimerHeap::Id TimerHeap::add(qint64 deadlineNs, Callback callback)
{
    deadlineNs = qMax<qint64>(0, deadlineNs);
    const Id id = m_nextId++;
    const bool earliest = m_heap.empty() || deadlineNs < m_heap.front().deadline;
    m_heap.push_back(Entry{deadlineNs, id, std::move(callback)});
    m_pending.insert(id);
    std::push_heap(m_heap.begin(), m_heap.end(), std::greater<>{});
    if (earliest && m_notify)
        m_notify(deadlineNs);
    return id;
}

void TimerHeap::cancel(Id id)
{
    // A timer that already fired (or never existed) is not pending: nothing to do.
    m_pending.erase(id);
}

void TimerHeap::dropCancelledTop()
{
    // Entries beyond the pending ones are cancelled: only then look them up.
    while (m_heap.size() > m_pending.size()) {
        if (m_pending.contains(m_heap.front().id))
            return;
        std::pop_heap(m_heap.begin(), m_heap.end(), std::greater<>{});
        m_heap.pop_back();
    }
}

qint64 TimerHeap::nextDeadline()
{
    dropCancelledTop();
    return m_heap.empty() ? -1 : m_heap.front().deadline;
}

void TimerHeap::fireDue(qint64 nowNs)
{
    for (;;) {
        dropCancelledTop();
        if (m_heap.empty() || m_heap.front().deadline > nowNs)
            return;
        std::pop_heap(m_heap.begin(), m_heap.end(), std::greater<>{});
        Callback callback = std::move(m_heap.back().callback);
        m_pending.erase(m_heap.back().id);
        m_heap.pop_back();
        callback();
    }
}

#include <chrono>

qint64 steadyNowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
