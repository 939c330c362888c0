#pragma once

#include <QMutex>
#include <QObject>
#include <QTimer>

#include <atomic>
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
    // On the engine thread, instead of done(), when run() returns after WorkQueue::abandon.
    virtual void abandonedRunReturned() {}
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
    // Gives up on `item`, whose run() is stuck in a call that never returns: its thread
    // is left to it, and the pool may start one more thread meanwhile, so it keeps its
    // size. If run() ever returns, the item gets abandonedRunReturned() (not done()) and
    // the pool shrinks back. False when run() is not running now (queued, or returned:
    // done() follows). Engine thread.
    bool abandon(WorkItem *item);
    // Threads given up on whose run() has not returned yet. Any thread.
    int stuckThreads() const { return m_stuck.load(); }

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
    struct Running
    {
        WorkItem *item;
        bool abandoned;
    };
    std::vector<Running *> m_running; // on the drainers' stacks, while run() runs
    std::atomic<int> m_stuck{0};
    QTimer m_starved; // checks, while work waits, whether it waits too long
    int m_drainers = 0;
    std::vector<WorkItem *> m_completed;
    bool m_deliveryPosted = false;        // a deliverCompleted() call is on its way
    std::vector<WorkItem *> m_delivering; // engine thread only
};
