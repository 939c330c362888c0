#include "workqueue.h"

#include <QThreadPool>

WorkQueue::WorkQueue(QThreadPool *pool, QObject *parent)
    : QObject(parent)
    , m_pool(pool)
{}

int WorkQueue::maxWorkers() const
{
    return m_pool->maxThreadCount();
}

void WorkQueue::push(WorkItem *item)
{
    bool startDrainer = false;
    {
        QMutexLocker lock(&m_mutex);
        m_queue.push_back(item);
        if (m_drainers < m_pool->maxThreadCount() && m_drainers < int(m_queue.size())) {
            ++m_drainers;
            startDrainer = true;
        }
    }
    if (startDrainer)
        m_pool->start([this] { drain(); });
}

void WorkQueue::drain()
{
    QMutexLocker lock(&m_mutex);
    while (!m_queue.empty()) {
        WorkItem *item = m_queue.front();
        m_queue.pop_front();
        lock.unlock();
        item->run();
        lock.relock();
        const bool first = m_completed.empty();
        m_completed.push_back(item);
        if (first)
            QMetaObject::invokeMethod(this, &WorkQueue::deliverCompleted, Qt::QueuedConnection);
    }
    --m_drainers;
}

void WorkQueue::deliverCompleted()
{
    std::vector<WorkItem *> batch;
    {
        QMutexLocker lock(&m_mutex);
        batch.swap(m_completed);
    }
    for (WorkItem *item : batch)
        item->done();
}
