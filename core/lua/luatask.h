#pragma once

#include "../taskrun.h"
#include "../timerheap.h"
#include "../workqueue.h"

#include <QMutex>
#include <QString>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

struct lua_State;
class LuaHost;
class LuaHostPool;
class LuaTask;

// One coroutine of a Lua task. Its fields are touched only by the thread running the
// task's slice (a worker), except `serial`, which the engine echoes back in wake-ups.
struct Coroutine
{
    LuaTask *task = nullptr;
    lua_State *L = nullptr; // nullptr marks "not a task coroutine" (see LuaTask::context)
    int ref = -1;           // registry reference keeping the thread alive
    int id = 0;
    quint64 serial = 0;     // bumped at each suspension; stale wake-ups are ignored
    bool suspended = false;
    bool dead = false;
    bool cancelPending = false;
    bool cancelDelivered = false;
    qint64 wakeAtNs = -1;   // set by the call that suspends it; -2: no timer
    QString awaiting;
    qint64 awaitingSinceMs = -1;
};

// One attempt of a Lua task: its main chunk as a coroutine in a LuaHost borrowed from
// the pool. It runs in slices: the engine thread queues a slice (WorkItem::run on a
// worker) whenever a coroutine of the task becomes ready, and the slice resumes every
// ready coroutine until each waits again or ends. A suspended task holds no thread.
//
// Thread ownership: the TaskRun interface, done() and the sleep timers belong to the
// engine thread; run() and everything reached from Lua belong to the worker running
// the slice. The two hand over through WorkQueue (a mutex), so at most one slice of a
// task runs at a time. m_cancelLevel is the only field read by both at once.
class LuaTask final : public TaskRun, public WorkItem
{
public:
    LuaTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
            const RunServices &services, LuaHostPool &pool);
    ~LuaTask() override;

    // TaskRun, engine thread
    void start() override;
    void cancel() override;
    void stop() override;
    std::shared_ptr<const CoroutineStack> liveStack() const override { return m_liveStack; }
    void poke() override;

    // WorkItem
    void run() override;  // worker
    void done() override; // engine thread

    // Installs the task API into a fresh host state (the base environment of every task).
    static void installApi(lua_State *L);

    // For the API functions: the coroutine record of the running Lua thread `L`; its
    // `L` differs from the argument when `L` is a plain coroutine made by the script.
    static Coroutine *context(lua_State *L);

private:
    struct Wake
    {
        Coroutine *co;
        quint64 serial;
    };
    struct SliceInput
    {
        std::vector<Wake> wakes;
        bool cancel = false;
        bool stop = false;
    };
    struct SliceOutput
    {
        QStringList log;
        bool progressSet = false;
        double progress = 0;
        QString status;
        std::vector<Wake> sleeps; // with Coroutine::wakeAtNs
        bool finished = false;
        RunOutcome outcome;
        std::shared_ptr<const CoroutineStack> stack;
    };

    // worker side
    bool begin();
    void resume(Coroutine *co);
    void finish(RunOutcome::Kind kind, const QString &error, QJsonValue result = {},
                std::shared_ptr<const CoroutineStack> stack = {});
    void releaseHost();
    CoroutineStack captureStack(Coroutine *co) const;
    QString errorText(lua_State *L, int status, int index) const;
    void appendLog(QString line);
    void flushLive();   // worker: hands log lines and progress over mid-slice
    void deliverLive(); // engine thread

    static void hook(lua_State *L, struct lua_Debug *ar);
    static int l_sleep(lua_State *L);
    static int sleepDone(lua_State *L, int status, intptr_t ctx);
    static int l_log(lua_State *L);
    static int l_print(lua_State *L);
    static int l_progress(lua_State *L);
    static int l_isCancelled(lua_State *L);
    static int l_isTimeout(lua_State *L);
    static int l_disabled(lua_State *L);
    static int l_coresume(lua_State *L);
    static int l_cowrap(lua_State *L);
    static int auxwrap(lua_State *L);
    static int auxresume(lua_State *L, lua_State *co, int narg);
    static int raiseCancel(lua_State *L, Coroutine *co);

    // engine side
    void dispatchSlice();
    void addSleeper(Coroutine *co, quint64 serial, qint64 deadlineNs);
    void onTimer();
    void interrupt(); // makes the running Lua code call hook() at once

    const TaskId m_id;
    const std::shared_ptr<const TaskSpec> m_spec;
    const int m_attempt;
    RunServices m_services;
    LuaHostPool &m_pool;
    std::atomic<int> m_cancelLevel{0}; // 1: cancel requested, 2: stop now
    // The Lua thread running right now on a worker (nullptr between resumes) and when
    // the slice began: the engine thread sets a hook on it to look in on long slices.
    // Lua code runs without a hook otherwise: a count hook halves the VM's speed.
    std::atomic<lua_State *> m_runningL{nullptr};
    std::atomic<qint64> m_sliceStartNs{0};

    // engine thread
    bool m_inSlice = false;
    bool m_finished = false;
    bool m_wantCancel = false;
    bool m_wantStop = false;
    std::vector<Wake> m_readyWakes;
    struct Sleeper
    {
        qint64 deadline;
        Wake wake;
        bool operator>(const Sleeper &o) const { return deadline > o.deadline; }
    };
    std::vector<Sleeper> m_sleepers; // min-heap
    TimerHeap::Id m_timerId = 0;
    qint64 m_timerDeadline = -1;
    std::shared_ptr<const CoroutineStack> m_liveStack;

    // handed over with the slice
    SliceInput m_in;
    SliceOutput m_out;

    // worker side
    LuaHost *m_host = nullptr;
    Coroutine m_outside;
    std::deque<Coroutine> m_coroutines;
    Coroutine *m_main = nullptr;
    bool m_hookCancelRaised = false;
    qint64 m_lastFlushNs = 0;

    // Output of a long slice, handed over while it still runs (a CPU-bound task's log
    // must show up live too).
    QMutex m_liveMutex;
    QStringList m_liveLog;
    qint64 m_liveDropped = 0;
    bool m_liveProgressSet = false;
    double m_liveProgress = 0;
    QString m_liveStatus;
    bool m_livePosted = false;
};
