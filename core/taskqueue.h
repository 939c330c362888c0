#pragma once

#include "concurrencylimit.h"
#include "taskspec.h"

#include <QHash>
#include <QString>

#include <map>
#include <optional>
#include <set>
#include <vector>

// The pending tasks, one ordered set per group: higher priority first, then submission
// order (a key of (priority, sequence) keeps equal priorities stable). Push, remove,
// reprioritize and take are O(log n) plus O(number of groups) to choose the group.
//
// Choosing among groups: the highest head priority wins; groups whose heads tie share
// the workers by smooth weighted round-robin, so a busy group cannot starve another.
// Owned by the engine thread.
class TaskQueue
{
public:
    qint64 nextSequence() { return ++m_lastSeq; }
    // What nextSequence() will return, without taking it.
    qint64 upcomingSequence() const { return m_lastSeq + 1; }
    // Sequences from `lowest` to `highest` are taken (tasks brought back with theirs): new
    // ones at the end come after `highest`, moves to the top before `lowest`.
    void reserveSequences(qint64 lowest, qint64 highest)
    {
        m_lastSeq = qMax(m_lastSeq, highest);
        m_topSeq = qMin(m_topSeq, lowest);
    }

    void push(TaskId id, const QString &group, int priority, qint64 sequence);
    bool remove(TaskId id);
    bool contains(TaskId id) const { return m_where.contains(id); }
    // The next task that `limit` lets start, removed from the queue; nullopt when none may.
    std::optional<TaskId> takeNext(const ConcurrencyLimit &limit);

    bool setPriority(TaskId id, int priority);
    // Make `id` the next to run (or the last): returns its new priority.
    std::optional<int> moveToTop(TaskId id);
    std::optional<int> moveToBottom(TaskId id);
    // Put `id` just before `before` in the order: returns its new priority. The tasks
    // whose sequence changed on the way are added to `renumbered`.
    std::optional<int> moveBefore(TaskId id, TaskId before,
                                  std::vector<TaskId> *renumbered = nullptr);
    // The sequence that orders `id` among equal priorities (0 if not queued).
    qint64 sequenceOf(TaskId id) const;

    void setPaused(bool paused) { m_paused = paused; }
    bool isPaused() const { return m_paused; }
    void setGroupPaused(const QString &group, bool paused);
    bool isGroupPaused(const QString &group) const;
    QStringList pausedGroups() const;
    void setGroupWeight(const QString &group, int weight);

    int size() const { return int(m_where.size()); }
    int size(const QString &group) const;
    // 1-based place among all pending tasks in start order (ignoring limits); O(n).
    int position(TaskId id) const;
    // The places of every pending task at once; O(n log n).
    QHash<TaskId, int> positions() const;

private:
    struct Key
    {
        int priority;
        qint64 sequence;
        TaskId id;
        bool operator<(const Key &o) const
        {
            if (priority != o.priority)
                return priority > o.priority;
            if (sequence != o.sequence)
                return sequence < o.sequence;
            return id < o.id;
        }
    };
    struct Group
    {
        std::set<Key> pending;
        int weight = 1;
        int currentWeight = 0;
        bool paused = false;
        // This group's slot in the last ConcurrencyLimit asked (no name hashing per pick).
        const ConcurrencyLimit *slotOwner = nullptr;
        const ConcurrencyLimit::Slot *slot = nullptr;
    };
    struct Place
    {
        Group *group; // a std::map node: never moves
        Key key;
    };
    void reinsert(TaskId id, int priority, qint64 sequence);

    std::map<QString, Group> m_groups;
    QHash<TaskId, Place> m_where;
    qint64 m_lastSeq = 0;
    qint64 m_topSeq = 0;
    bool m_paused = false;
};
