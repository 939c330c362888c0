#pragma once

#include "timerheap.h"

#include <QtGlobal>

#include <cmath>
#include <limits>

// Every duration the engine accepts (directives, options, the socket, Lua calls) is at
// most this long; longer ones are rejected where they enter, never wrapped.
constexpr qint64 MaxDurationMs = qint64(365) * 24 * 3600 * 1000;
constexpr qint64 NeverNs = std::numeric_limits<qint64>::max();

// The deadline `ms` milliseconds after `nowNs`, saturating at NeverNs instead of
// overflowing (a negative duration counts as zero): the one place a duration becomes a
// deadline, so no value can wrap a deadline into the past.
inline qint64 deadlineAfterMs(qint64 ms, qint64 nowNs = steadyNowNs())
{
    if (ms <= 0)
        return nowNs;
    constexpr qint64 nsPerMs = 1000000;
    if (ms > (NeverNs - nowNs) / nsPerMs)
        return NeverNs;
    return nowNs + ms * nsPerMs;
}

// The same for a number of seconds from Lua: NaN and negatives count as zero, huge values
// and infinity saturate.
inline qint64 deadlineAfterSeconds(double seconds, qint64 nowNs = steadyNowNs())
{
    if (!(seconds > 0))
        return nowNs;
    const double ns = seconds * 1e9;
    if (ns >= double(NeverNs - nowNs))
        return NeverNs;
    return nowNs + qint64(ns);
}

// `ms` doubled `doublings` times, saturating at MaxDurationMs (retry delays).
inline qint64 doubledMs(qint64 ms, int doublings)
{
    for (int i = 0; i < doublings && ms < MaxDurationMs; ++i)
        ms *= 2;
    return qMin(ms, MaxDurationMs);
}
