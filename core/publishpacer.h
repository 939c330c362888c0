#pragma once

#include <QtGlobal>

// When the engine publishes its next batch of changes: at once (as soon as its event loop
// is idle) while it is not flooded, so that a task's end reaches `run`, `wait`, the
// dashboard and the store without waiting for a tick; at most once per interval when it
// is. A token bucket: Burst batches may go out at once after a quiet spell, and one more
// is earned per interval, which is the pace under a flood. Engine thread only.
class PublishPacer
{
public:
    static constexpr double Burst = 4;

    explicit PublishPacer(int intervalMs) { setInterval(intervalMs); }
    void setInterval(int ms) { m_intervalNs = qint64(qMax(0, ms)) * 1000000; }
    // The delay for the timer of a batch that has just got its first change.
    int delayMs(qint64 nowNs);
    // A batch went out at `nowNs`.
    void published(qint64 nowNs);

private:
    void refill(qint64 nowNs);

    qint64 m_intervalNs = 0;
    double m_tokens = Burst;
    qint64 m_refilledAtNs = -1;
};
