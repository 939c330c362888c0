#pragma once

#include <QStringList>

// A task's log, bounded: the first `head` lines and the last `tail` lines are kept, and
// what was dropped between them is counted and shown as one marker line.
class LogBuffer
{
public:
    explicit LogBuffer(int head = 200, int tail = 2000)
        : m_headMax(head)
        , m_tailMax(tail)
    {}

    void append(const QString &line);
    QStringList lines() const;
    qint64 dropped() const { return m_dropped; }
    qint64 total() const { return m_total; }

private:
    int m_headMax;
    int m_tailMax;
    QStringList m_head;
    QStringList m_tail; // ring buffer once full
    int m_tailStart = 0;
    qint64 m_dropped = 0;
    qint64 m_total = 0;
};
