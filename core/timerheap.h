#pragma once

#include <QtGlobal>

#include <functional>
#include <unordered_set>
#include <vector>

// All of the engine's timers (sleeps, timeouts, retry delays, grace periods) in one
// min-heap keyed by (deadline, sequence), so equal deadlines fire in the order they were
// set. Owned by the engine thread; one QTimer is armed for nextDeadline(), never one per
// timer. O(log n) add and pop; cancel is lazy.
class TimerHeap
{
public:
    using Id = quint64;
    using Callback = std::function<void()>;

    // A negative deadline counts as 0 (due now); use deadlineAfterMs() (deadline.h) to
    // turn a duration into a deadline without overflow.
    Id add(qint64 deadlineNs, Callback callback);
    // Called by add() when it sets a new earliest deadline, so the owner can re-arm.
    void setEarliestChanged(std::function<void(qint64)> notify) { m_notify = std::move(notify); }
    void cancel(Id id);
    // Runs every callback due at `nowNs`; callbacks may add or cancel timers.
    void fireDue(qint64 nowNs);
    // -1 when empty (every stored deadline is >= 0)
    qint64 nextDeadline();
    bool isEmpty() { return nextDeadline() < 0; }
    size_t size() const { return m_pending.size(); }

private:
    struct Entry
    {
        qint64 deadline;
        Id id;
        Callback callback;
        bool operator>(const Entry &o) const
        {
            return deadline != o.deadline ? deadline > o.deadline : id > o.id;
        }
    };
    void dropCancelledTop();

    std::vector<Entry> m_heap;
    std::unordered_set<Id> m_pending; // in the heap and not cancelled
    Id m_nextId = 1;
    std::function<void(qint64)> m_notify;
};

// Monotonic clock used by all engine deadlines.
qint64 steadyNowNs();
