#pragma once

#include <QHash>
#include <QString>

// The policy that decides whether one more task may start: a global limit on running
// tasks and a limit per group (0 = no limit). Owned by the engine thread.
class ConcurrencyLimit
{
public:
    int maxRunning() const { return m_maxRunning; }
    void setMaxRunning(int limit) { m_maxRunning = qMax(1, limit); }
    int groupLimit(const QString &group) const { return m_groupLimits.value(group, 0); }
    void setGroupLimit(const QString &group, int limit);
    const QHash<QString, int> &groupLimits() const { return m_groupLimits; }

    bool canStart(const QString &group) const;
    void started(const QString &group);
    void released(const QString &group);

    int running() const { return m_running; }
    int running(const QString &group) const { return m_groupRunning.value(group, 0); }

private:
    int m_maxRunning = 16;
    int m_running = 0;
    QHash<QString, int> m_groupLimits;
    QHash<QString, int> m_groupRunning;
};
