#pragma once

#include "../taskrun.h"
#include "../timerheap.h"
#include "../workqueue.h"
#include "iocall.h"
#include "syncregistry.h"

#include <QMutex>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

struct lua_State;
class LuaHost;
class LuaHostPool;
class LuaTask;
struct Coroutine;

// A wait on several coroutines at once (h:wait, gather, wait): fires once, when the
// mode is met, by waking the waiting coroutine.
struct WaitGroup
{
    enum Mode { All, First, FirstError };
    int waiterId = 0;
    int remaining = 0;
    Mode mode = All;
    bool fired = false;
};

// One coroutine of a Lua task: the main chunk or a spawn()ed child. It lives inside a
// Lua full userdata, which is also the handle scripts hold; while it has not ended, a
// registry reference keeps it alive. Touched only by the thread running the task's
// slice, or by the engine thread while no slice runs. A child's `L` is nullptr until its
// first resume, and again once it has ended and given its thread back (lib/threadcache.cpp).
struct Coroutine
{
    LuaTask *task = nullptr;
    lua_State *L = nullptr; // nullptr marks "not a task coroutine" (see LuaTask::context)
    int id = 0;
    int ref = -2; // LUA_NOREF once ended
    Coroutine *parent = nullptr;
    Coroutine *firstChild = nullptr;
    Coroutine *prevSibling = nullptr;
    Coroutine *nextSibling = nullptr;
    quint64 serial = 0; // bumped at each suspension; stale wake-ups are ignored
    int startArgs = -1; // >= 0 until the first resume: arguments waiting on its stack
    int results = 0;    // values left on its stack when it returned
    bool suspended = false;
    bool dead = false;
    bool failed = false;
    bool cancelled = false;
    bool cancelPending = false;
    bool cancelDelivered = false;
    // A script holds its thread (coroutine.running): never reused (lib/threadcache.cpp).
    bool threadKept = false;
    // spawn(sleep, seconds) sleeping without a thread (LuaApi::bareSleepSeconds).
    bool bareSleep = false;
    bool shielded = false; // shield(): not cancelled with its parent
    qint64 wakeAtNs = -1;  // set by the call that suspends it; -2: no timer
    // What it waits on, formatted only when a stack is asked for.
    const char *awaitKind = nullptr;
    double awaitArg = 0;
    qint64 awaitingSinceMs = -1;
    std::shared_ptr<IoRequest> io;                   // the exec/http call it waits on, if any
    bool ioQueued = false;                           // handed to the engine thread already
    std::shared_ptr<WaitGroup> group;                // the group it waits on, if any
    std::vector<std::shared_ptr<WaitGroup>> waiters; // groups waiting on it
};

// One attempt of a Lua task: its main chunk and the coroutines it spawns, in a LuaHost
// borrowed from the pool. It runs in slices: the engine thread queues a slice
// (WorkItem::run on a worker) whenever a coroutine of the task is woken by a timer or a
// cancel, and the slice resumes ready coroutines — including those woken by others in
// the slice (locks, queues, a child ending) — until each waits again or ends. A
// suspended task holds no thread.
//
// Thread ownership: the TaskRun interface, done() and the sleep timers belong to the
// engine thread; run() and everything reached from Lua belong to the worker running the
// slice. The two hand over through WorkQueue (a mutex), so at most one thread touches
// the Lua state at a time; the engine thread reads stacks only between slices.
// m_cancelLevel, m_runningL and m_sliceStartNs are read by both at once.
class LuaTask final : public TaskRun, public WorkItem
{
public:
    LuaTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
            const RunServices &services, LuaHostPool &pool, qint64 defaultMemoryLimit);
    ~LuaTask() override;

    // TaskRun, engine thread
    void start() override;
    void cancel() override;
    void stop() override;
    std::shared_ptr<const CoroutineStack> liveStack() const override;
    void poke() override;
    void giveUp() override;
    void retire() override;

    // WorkItem
    void run() override;  // worker
    void done() override; // engine thread
    void abandonedRunReturned() override;

    // For tests: `install` is called on each task's host state before the task starts
    // (to add functions, such as one that blocks in C, with addGlobal). nullptr: none.
    static void setExtraApi(void (*install)(lua_State *L));
    // Makes `fn` a global of every task on this host (the base their globals fall back to).
    static void addGlobal(lua_State *L, const char *name, int (*fn)(lua_State *L));

    // Installs the task API into a fresh host state (the base environment of every task).
    static void installApi(lua_State *L);

    // For the API functions: the coroutine record of the running Lua thread `L`; its
    // `L` differs from the argument when `L` is a plain coroutine made by the script.
    static Coroutine *context(lua_State *L);

private:
    struct Wake
    {
        int id;
        quint64 serial;
        qint64 deadline; // sleep requests only
    };
    struct SliceInput
    {
        std::vector<Wake> wakes;
        bool cancel = false;
        bool stop = false;
        bool deadlockCheck = false; // nothing can wake the task: look for a deadlock
    };
    struct SliceOutput
    {
        QStringList log;
        bool progressSet = false;
        double progress = 0;
        QString status;
        std::vector<Wake> sleeps;
        std::vector<std::pair<Wake, std::shared_ptr<IoRequest>>> ioStarts;
        std::vector<int> ioAborts; // coroutines that stopped waiting on their I/O
        bool finished = false;
        RunOutcome outcome;
    };

    // worker side (luatask.cpp)
    bool begin();
    void resume(Coroutine *co);
    void ended(Coroutine *co, int status, int nresults);
    void endTask();
    void finish(RunOutcome::Kind kind, const QString &error, QJsonValue result = {},
                std::shared_ptr<const CoroutineStack> stack = {});
    void releaseHost();
    void makeReady(Coroutine *co);
    Coroutine *liveCoroutine(int id) const;
    void cancelTree(Coroutine *co, bool force = false);
    CoroutineStack captureTree(Coroutine *co) const;
    CoroutineStack captureNodes(Coroutine *co) const;
    QString awaitingText(const Coroutine *co) const;
    CoroutineStack captureStack(Coroutine *co) const;
    QString errorText(lua_State *L, int status, int index) const;
    void appendLog(QString line);
    void flushLive();   // worker: hands log lines and progress over mid-slice
    void deliverLive(); // engine thread

    // the Lua API: luaapi.cpp, and one open function per library in lib/ (called by
    // installApi with the global table pushed and `engine`, the table of primitives only
    // the prelude gets, at that index)
    static void openCoroLib(lua_State *L, int engine);
    static void openSyncLib(lua_State *L, int engine);
    static void openIoLib(lua_State *L, int engine);
    static void openTaskLib(lua_State *L, int engine);
    static void hook(lua_State *L, struct lua_Debug *ar);
    static Coroutine *waitingCoroutine(lua_State *L, const char *what);
    static int suspend(lua_State *L, Coroutine *co, const char *kind, double arg, qint64 wakeAtNs,
                       int (*k)(lua_State *, int, intptr_t));
    static int raiseCancel(lua_State *L, Coroutine *co);
    static int l_sleep(lua_State *L);
    static int sleepDone(lua_State *L, int status, intptr_t ctx);
    static int l_spawn(lua_State *L);
    static int l_suspend(lua_State *L);
    static int suspendDone(lua_State *L, int status, intptr_t ctx);
    static int l_wake(lua_State *L);
    static int l_current(lua_State *L);
    static int l_waitGroup(lua_State *L);
    static int waitGroupDone(lua_State *L, int status, intptr_t ctx);
    static int l_handleWait(lua_State *L);
    static int handleWaitDone(lua_State *L, int status, intptr_t ctx);
    static int pushResults(lua_State *L, Coroutine *co, bool raise);
    static int l_handleResult(lua_State *L);
    static int l_isHandle(lua_State *L);
    static int l_shield(lua_State *L);
    static int l_handleCancel(lua_State *L);
    static int l_handleDone(lua_State *L);
    static int l_handleCancelled(lua_State *L);
    static int l_handleId(lua_State *L);
    static int l_handleGc(lua_State *L);
    static int l_handleToString(lua_State *L);
    static int l_log(lua_State *L);
    static int l_print(lua_State *L);
    static int l_progress(lua_State *L);
    static int l_isCancelled(lua_State *L);
    static int l_isTimeout(lua_State *L);
    static int l_taskIndex(lua_State *L);
    static int l_exec(lua_State *L);
    static int l_httpGet(lua_State *L);
    static int l_httpPost(lua_State *L);
    static int l_httpRequest(lua_State *L);
    static int startIo(lua_State *L, std::shared_ptr<IoRequest> request);
    static int httpCall(lua_State *L, const QByteArray &method, const QString &url, int opts,
                        QByteArray body, const char *name);
    static int ioDone(lua_State *L, int status, intptr_t ctx);
    static int l_coresume(lua_State *L);
    static int l_cowrap(lua_State *L);
    static int auxwrap(lua_State *L);
    static int auxresume(lua_State *L, lua_State *co, int narg);
    static Coroutine *checkHandle(lua_State *L, int index);

    // engine side
    void dispatchSlice();
    void addSleeper(const Wake &wake);
    void onTimer();
    void interrupt(); // makes the running Lua code call hook() at once
    void ioFinished(const Wake &wake);
    void watchForDeadlock();
    bool nothingCanWake() const;
    // worker side (luainsight.cpp)
    bool checkDeadlock(); // true: the task failed with it
    QString describeDeadlock() const;

    const TaskId m_id;
    const std::shared_ptr<const TaskSpec> m_spec;
    const int m_attempt;
    RunServices m_services;
    LuaHostPool &m_pool;
    const qint64 m_defaultMemoryLimit; // for a task without @memory
    // 1: cancel requested, 2: stop now, 3: given up (its worker thread was abandoned:
    // the slice running there must not touch the task's state, its host or the engine)
    std::atomic<int> m_cancelLevel{0};
    int m_owners = 1; // engine thread: 2 while a given-up slice may still run
    // The Lua thread running right now on a worker (nullptr between resumes) and when
    // the slice began: the engine thread sets a hook on it to look in on long slices.
    // Lua code runs without a hook otherwise: a count hook halves the VM's speed.
    std::atomic<lua_State *> m_runningL{nullptr};
    std::atomic<qint64> m_sliceStartNs{0};
    std::atomic<qint64> m_resumeStartNs{0};

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
    TimerHeap::Id m_deadlockTimerId = 0; // a look for a deadlock, once nothing can wake it
    bool m_wantDeadlockCheck = false;
    qint64 m_timerDeadline = -1;
    std::shared_ptr<const CoroutineStack> m_endStack;
    std::unordered_map<int, std::unique_ptr<IoCall>> m_io; // by coroutine id
    std::vector<std::unique_ptr<IoCall>> m_ioDone;

    // handed over with the slice
    SliceInput m_in;
    SliceOutput m_out;

    // worker side (and the engine thread between slices)
    LuaHost *m_host = nullptr;
    Coroutine m_outside;
    Coroutine *m_main = nullptr;
    Coroutine *m_current = nullptr;
    std::unordered_map<int, Coroutine *> m_live; // by id, every child coroutine not ended
    std::vector<Wake> m_localReady;
    int m_nextCoroutineId = 1;
    int m_argsRef = -2; // task.args, built on first use (LUA_NOREF)
    bool m_mainEnded = false;
    RunOutcome m_mainOutcome;
    bool m_hookCancelRaised = false;
    qint64 m_lastFlushNs = 0;
    qint64 m_outLogBytes = 0; // in m_out.log

    // Output of a long slice, handed over while it still runs (a CPU-bound task's log
    // must show up live too).
    mutable QMutex m_liveMutex;
    QStringList m_liveLog;
    qint64 m_liveLogBytes = 0;
    qint64 m_liveDropped = 0;
    bool m_liveProgressSet = false;
    double m_liveProgress = 0;
    QString m_liveStatus;
    bool m_livePosted = false;
    // SPEC section 9, seeing inside tasks (luainsight.cpp). Names given to spawn() and
    // those found when a stack first showed a coroutine, by coroutine id (mutable: stacks
    // are built in const functions, on one thread at a time as the Lua state is).
    mutable std::unordered_map<int, QString> m_names;
    // Errors of children that failed with nobody waiting: logged when the task ends
    // unless a wait or gather retrieves them first.
    struct LostError
    {
        int id;
        QString name;
        QString error;
        QList<StackFrame> frames;
    };
    std::vector<LostError> m_lostErrors;
    int m_lostErrorsDropped = 0;

    // The task's Locks, Semaphores, Queues and Events (syncregistry.cpp): a weak-keyed
    // table in the Lua registry, made when the first one is created.
    int m_syncRef = -2;                                    // LUA_NOREF
    mutable const SyncRegistry *m_stackRegistry = nullptr; // while captureTree runs
    QString m_deadlock; // a deadlock found (`@deadlock warn`), shown on the stack's root
    qint64 m_syncSeq = 0;

public:
    // The name of `co` as SPEC section 9 gives it ("fetch_page"; "main" for the main chunk).
    QString coroutineName(const Coroutine *co) const;
    // The task's sync objects as they stand (worker in a slice, engine thread between).
    std::shared_ptr<SyncRegistry> syncRegistry() const;
    // Someone read the error of the failed `co` (wait, gather...): it is not lost.
    void retrieved(const Coroutine *co);

private:
    QString resolveName(const Coroutine *co) const;
    void readSyncRegistry(lua_State *L, SyncRegistry &registry) const;
    static int l_track(lua_State *L);
    static int l_nowMs(lua_State *L);
    StackFrame entryFrame(const Coroutine *co) const;
    bool pushEntryFunction(lua_State *L, const Coroutine *co) const;
    static void mergeIdenticalSiblings(QList<StackNode> &nodes);
    static StackFrame tailCallFrame();
    void noteLostError(Coroutine *co, int status);
    void logLostErrors();

    // Where code running > 100 ms without waiting was last seen (asyncio's slow callback).
    // Where code running long without waiting was last seen (rare: kept off the object,
    // which then fits the allocator's per-thread cache).
    std::unique_ptr<StackFrame> m_blockingAt;
};
