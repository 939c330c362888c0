#include "concurrencylimit.h"

void ConcurrencyLimit::setGroupLimit(const QString &group, int limit)
{
    if (limit <= 0)
        m_groupLimits.remove(group);
    else
        m_groupLimits.insert(group, limit);
}

bool ConcurrencyLimit::canStart(const QString &group) const
{
    if (m_running >= m_maxRunning)
        return false;
    const int limit = groupLimit(group);
    return limit == 0 || running(group) < limit;
}

void ConcurrencyLimit::started(const QString &group)
{
    ++m_running;
    ++m_groupRunning[group];
}

void ConcurrencyLimit::released(const QString &group)
{
    --m_running;
    auto it = m_groupRunning.find(group);
    if (it != m_groupRunning.end() && --it.value() == 0)
        m_groupRunning.erase(it);
}
