#pragma once

#include <QHash>
#include <QString>

#include <unordered_map>

// The policy that decides whether one more task may start: a global limit on running
// tasks and a limit per group (0 = no limit). Owned by the engine thread.
class ConcurrencyLimit
{
public:
    // One group's limit and running count. Stable for the lifetime of the policy, so
    // the scheduler keeps a pointer instead of hashing the group name per task.
    struct Slot
    {
        int limit = 0;
        int running = 0;
    };

    int maxRunning() const { return m_maxRunning; }
    void setMaxRunning(int limit) { m_maxRunning = qMax(1, limit); }
    int groupLimit(const QString &group) const { return slot(group)->limit; }
    void setGroupLimit(const QString &group, int limit) { slot(group)->limit = qMax(0, limit); }
    QHash<QString, int> groupLimits() const;

    Slot *slot(const QString &group) const;

    bool canStart(const Slot *group) const
    {
        return m_running < m_maxRunning && (group->limit == 0 || group->running < group->limit);
    }
    void started(Slot *group)
    {
        ++m_running;
        ++group->running;
    }
    void released(Slot *group)
    {
        --m_running;
        --group->running;
    }
    bool canStart(const QString &group) const { return canStart(slot(group)); }
    void started(const QString &group) { started(slot(group)); }
    void released(const QString &group) { released(slot(group)); }

    int running() const { return m_running; }
    int running(const QString &group) const { return slot(group)->running; }

private:
    int m_maxRunning = 16;
    int m_running = 0;
    mutable std::unordered_map<QString, Slot> m_slots; // nodes never move
};
