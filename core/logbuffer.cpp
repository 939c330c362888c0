#include "logbuffer.h"

void LogBuffer::append(const QString &line)
{
    ++m_total;
    if (m_head.size() < m_headMax) {
        m_head.append(line);
        return;
    }
    if (m_tail.size() < m_tailMax) {
        m_tail.append(line);
        return;
    }
    m_tail[m_tailStart] = line;
    m_tailStart = (m_tailStart + 1) % m_tailMax;
    ++m_dropped;
}

QStringList LogBuffer::lines() const
{
    QStringList all = m_head;
    if (m_dropped > 0)
        all.append(QStringLiteral("[taskdeck: %1 lines omitted]").arg(m_dropped));
    for (int i = 0; i < m_tail.size(); ++i)
        all.append(m_tail.at((m_tailStart + i) % m_tail.size()));
    return all;
}
