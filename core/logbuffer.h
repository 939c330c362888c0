#pragma once

#include <QStringList>

#include <deque>

// A task's log, bounded in lines and in bytes: the first lines (up to `head` of them and
// half the byte budget) and the last ones (up to `tail` and the rest of the budget) are
// kept, and what was dropped between them is counted and shown as one marker line.
// Bytes are counted as stored (UTF-16, plus a little per line), so `maxBytes` is what the
// buffer really holds. Not thread-safe: the engine thread's.
class LogBuffer
{
public:
    static constexpr qint64 DefaultMaxBytes = qint64(1) << 20;

    explicit LogBuffer(qint64 maxBytes = DefaultMaxBytes, int head = 200, int tail = 2000)
        : m_maxBytes(qMax<qint64>(maxBytes, 2 * MinLineCost))
        , m_headMax(head)
        , m_tailMax(tail)
    {
    }

    void append(const QString &line);
    QStringList lines() const;
    qint64 dropped() const { return m_dropped; }
    qint64 total() const { return m_total; }
    qint64 bytes() const { return m_headBytes + m_tailBytes; }
    // Lowers the byte budget to `maxBytes` (an engine over its total for all logs),
    // dropping lines from the middle.
    void shrink(qint64 maxBytes);

    // What one line costs in memory.
    static qint64 cost(const QString &line) { return 2 * qint64(line.size()) + MinLineCost; }

private:
    static constexpr qint64 MinLineCost = 32; // QString header and list slot
    void trimTail();

    qint64 m_maxBytes;
    int m_headMax;
    int m_tailMax;
    QStringList m_head;
    qint64 m_headBytes = 0;
    bool m_headClosed = false; // the tail has begun: later lines never go to the head
    std::deque<QString> m_tail;
    qint64 m_tailBytes = 0;
    qint64 m_dropped = 0;
    qint64 m_total = 0;
};
