#include "publishpacer.h"

#include <cmath>

void PublishPacer::refill(qint64 nowNs)
{
    if (m_refilledAtNs >= 0 && m_intervalNs > 0)
        m_tokens = qMin(Burst, m_tokens + double(nowNs - m_refilledAtNs) / double(m_intervalNs));
    m_refilledAtNs = nowNs;
}

int PublishPacer::delayMs(qint64 nowNs)
{
    if (m_intervalNs <= 0)
        return 0;
    refill(nowNs);
    if (m_tokens >= 1)
        return 0;
    // Until a whole token is earned, rounded up to Qt's whole milliseconds.
    const double ns = (1 - m_tokens) * double(m_intervalNs);
    return int(qMin<qint64>(qint64(std::ceil(ns / 1e6)), m_intervalNs / 1000000));
}

void PublishPacer::published(qint64 nowNs)
{
    refill(nowNs);
    m_tokens = qMax(0.0, m_tokens - 1);
}
