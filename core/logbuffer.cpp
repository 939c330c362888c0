#include "logbuffer.h"

void LogBuffer::append(const QString &line)
{
    ++m_total;
    const qint64 headBudget = m_maxBytes / 2;
    if (!m_headClosed && m_head.size() < m_headMax && m_headBytes + cost(line) <= headBudget) {
        m_headBytes += cost(line);
        m_head.append(line);
        return;
    }
    m_headClosed = true;
    // A line longer than the whole tail's budget keeps its beginning.
    const qint64 tailBudget = m_maxBytes - m_headBytes;
    QString kept = line;
    if (cost(kept) > tailBudget) {
        const QString cut = QStringLiteral("… [line cut]");
        kept = line.left(qMax<qsizetype>(0, (tailBudget - MinLineCost) / 2 - cut.size())) + cut;
    }
    m_tailBytes += cost(kept);
    m_tail.push_back(std::move(kept));
    trimTail();
}

void LogBuffer::trimTail()
{
    while (!m_tail.empty() &&
           (qsizetype(m_tail.size()) > m_tailMax || m_headBytes + m_tailBytes > m_maxBytes)) {
        m_tailBytes -= cost(m_tail.front());
        m_tail.pop_front();
        ++m_dropped;
    }
}

void LogBuffer::shrink(qint64 maxBytes)
{
    m_maxBytes = qMin(m_maxBytes, qMax<qint64>(maxBytes, 2 * MinLineCost));
    m_headClosed = true;
    while (!m_head.isEmpty() && m_headBytes > m_maxBytes / 2) {
        m_headBytes -= cost(m_head.constLast());
        m_head.removeLast();
        ++m_dropped;
    }
    trimTail();
}

QStringList LogBuffer::lines() const
{
    QStringList all = m_head;
    all.reserve(m_head.size() + qsizetype(m_tail.size()) + 1);
    if (m_dropped > 0)
        all.append(QStringLiteral("[taskdeck: %1 lines omitted]").arg(m_dropped));
    for (const QString &line : m_tail)
        all.append(line);
    return all;
}
