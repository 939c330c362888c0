#include "workqueue.h"

#include "timerheap.h"

#include <QThreadPool>

#include <algorithm>

namespace {

// How long queued work may wait before one more worker is woken for it.
constexpr qint64 StarvedAfterNs = 1'000'000;
// How long one delivery of completed work may keep the engine thread.
constexpr qint64 DeliverForNs = 2'000'000;

} // namespace

WorkQueue::WorkQueue(QThreadPool *pool, QObject *parent)
    : QObject(parent)
    , m_pool(pool)
    , m_starved(this)
{
    m_starved.setSingleShot(true);
    m_starved.setTimerType(Qt::PreciseTimer);
    connect(&m_starved, &QTimer::timeout, this, &WorkQueue::wakeMoreWorkers);
}

int WorkQueue::maxWorkers() const
{
    return m_pool->maxThreadCount();
}

// One worker drains the queue; more join only when work has waited over a millisecond
// (a worker is held by a long slice). Short tasks then run on one worker while the engine
// thread has the other core, instead of three busy threads sharing two cores.
void WorkQueue::push(WorkItem *item)
{
    bool startDrainer = false;
    bool watch = false;
    {
        QMutexLocker lock(&m_mutex);
        m_queue.push_back(Queued{item, steadyNowNs()});
        if (m_drainers == 0) {
            ++m_drainers;
            startDrainer = true;
        } else {
            watch = m_drainers < m_pool->maxThreadCount();
        }
    }
    if (startDrainer)
        m_pool->start([this] { drain(); });
    if (watch && !m_starved.isActive())
        m_starved.start(1);
}

void WorkQueue::wakeMoreWorkers()
{
    bool startDrainer = false;
    bool again = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_queue.empty())
            return;
        const bool starved = steadyNowNs() - m_queue.front().since >= StarvedAfterNs;
        if (m_drainers < m_pool->maxThreadCount() && (starved || m_drainers == 0)) {
            ++m_drainers;
            startDrainer = true;
        }
        again = m_drainers < m_pool->maxThreadCount();
    }
    if (startDrainer)
        m_pool->start([this] { drain(); });
    if (again)
        m_starved.start(1);
}

void WorkQueue::drain()
{
    QMutexLocker lock(&m_mutex);
    while (!m_queue.empty()) {
        WorkItem *item = m_queue.front().item;
        m_queue.pop_front();
        Running running{item, false};
        m_running.push_back(&running);
        lock.unlock();
        item->run();
        lock.relock();
        std::erase(m_running, &running);
        if (running.abandoned) {
            // Given up on meanwhile: another thread has taken this one's place (and
            // m_drainers no longer counts it). Shrink the pool back and leave.
            lock.unlock();
            m_pool->reserveThread();
            m_stuck.fetch_sub(1);
            QMetaObject::invokeMethod(
                this, [item] { item->abandonedRunReturned(); }, Qt::QueuedConnection);
            return;
        }
        m_completed.push_back(item);
        if (!m_deliveryPosted) {
            m_deliveryPosted = true;
            QMetaObject::invokeMethod(this, &WorkQueue::deliverCompleted, Qt::QueuedConnection);
        }
    }
    --m_drainers;
}

bool WorkQueue::abandon(WorkItem *item)
{
    bool startDrainer = false;
    {
        QMutexLocker lock(&m_mutex);
        auto it = std::find_if(m_running.begin(), m_running.end(),
                               [item](Running *r) { return r->item == item && !r->abandoned; });
        if (it == m_running.end())
            return false;
        (*it)->abandoned = true;
        --m_drainers;
        m_stuck.fetch_add(1);
        if (!m_queue.empty() && m_drainers < m_pool->maxThreadCount()) {
            ++m_drainers;
            startDrainer = true;
        }
    }
    // Without a reservation, releaseThread() lets the pool run one more thread; the
    // reserveThread() when the stuck run() returns undoes it.
    m_pool->releaseThread();
    if (startDrainer)
        m_pool->start([this] { drain(); });
    return true;
}

// Hands completed items back, and keeps taking what completes meanwhile without another
// posted event (one post and wake-up per item costs more than the item on a busy
// engine), for at most DeliverForNs so that timers and requests still get their turn.
void WorkQueue::deliverCompleted()
{
    const qint64 until = steadyNowNs() + DeliverForNs;
    for (;;) {
        {
            QMutexLocker lock(&m_mutex);
            if (m_completed.empty()) {
                m_deliveryPosted = false;
                return;
            }
            m_delivering.swap(m_completed);
        }
        for (WorkItem *item : m_delivering)
            item->done();
        m_delivering.clear();
        if (steadyNowNs() >= until) {
            QMutexLocker lock(&m_mutex);
            if (m_completed.empty())
                m_deliveryPosted = false;
            else
                QMetaObject::invokeMethod(this, &WorkQueue::deliverCompleted, Qt::QueuedConnection);
            return;
        }
    }
}
