#include "concurrencylimit.h"

ConcurrencyLimit::Slot *ConcurrencyLimit::slot(const QString &group) const
{
    return &m_slots[group];
}

QHash<QString, int> ConcurrencyLimit::groupLimits() const
{
    QHash<QString, int> limits;
    for (const auto &[group, s] : m_slots)
        if (s.limit > 0)
            limits.insert(group, s.limit);
    return limits;
}
