#pragma once

#include <QMutex>
#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>
#include <vector>

class QThreadPool;

// A unit of work for a pool thread; `run()` is called on a worker, `done()` back on the
// engine thread. No QObject per job.
class WorkItem
{
public:
    virtual ~WorkItem() = default;
    virtual void run() = 0;  // on a worker thread
    virtual void done() = 0; // on the engine thread
};

// Hands WorkItems to QThreadPool workers and their completions back to the engine
// thread, in batches: at most one pool runnable per worker drains the queue, and at
// most one queued call to the engine thread is pending at a time, however many items
// finish. Lives on the engine thread; push() and completion are thread-safe.
class WorkQueue : public QObject
{
    Q_OBJECT
public:
    explicit WorkQueue(QThreadPool *pool, QObject *parent = nullptr);

    void push(WorkItem *item); // engine thread
    int maxWorkers() const;

private:
    void drain();            // worker thread
    void deliverCompleted(); // engine thread
    void wakeMoreWorkers();  // engine thread

    QThreadPool *m_pool;
    QMutex m_mutex;
    struct Queued
    {
        WorkItem *item;
        qint64 since; // steadyNowNs() when queued
    };
    std::deque<Queued> m_queue;
    QTimer m_starved; // checks, while work waits, whether it waits too long
    int m_drainers = 0;
    std::vector<WorkItem *> m_completed;
    bool m_deliveryPosted = false;         // a deliverCompleted() call is on its way
    std::vector<WorkItem *> m_delivering; // engine thread only
};
