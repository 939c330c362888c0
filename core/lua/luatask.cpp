#include "luatask.h"

#include "luahost.h"
#include "luavalue.h"

#include "lib/luaapi_p.h"

#include "../deadline.h"

#include <QDateTime>

#include <lua.hpp>

// The lifecycle of a Lua task attempt: slices, coroutines ending, cancellation, stacks.
// The functions scripts call are in luaapi.cpp and lib/.

namespace {

constexpr qint64 LookInAfterNs = 50'000'000;
constexpr int MaxLogLinesPerSlice = 10000;
constexpr int MaxUndeliveredLines = 50000;
// Log text a slice holds before handing it over, and the engine thread may leave
// undelivered, in bytes as stored (UTF-16): a task's log is bounded outside @memory.
constexpr qint64 MaxSliceLogBytes = 1 << 20;
constexpr qint64 MaxUndeliveredLogBytes = 4 << 20;
constexpr int MaxLogLineBytes = 64 * 1024;
constexpr int MaxChildrenShown = 100;
constexpr int MaxChildrenScanned = 1000;
constexpr qint64 BlockingMs = 100;
// How long a task that nothing can wake is left before it is looked at (SPEC: a deadlock
// is found within 1 s).
constexpr qint64 DeadlockLookNs = 300'000'000;

} // namespace

// Defined in luaapi.cpp.
bool luaIsCancelMarker(lua_State *L, int index);
QString luaMarkerText(lua_State *L, int index);

LuaTask::LuaTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                 const RunServices &services, LuaHostPool &pool, qint64 defaultMemoryLimit)
    : m_id(id)
    , m_spec(std::move(spec))
    , m_attempt(attempt)
    , m_services(services)
    , m_pool(pool)
    , m_defaultMemoryLimit(defaultMemoryLimit)
{
    m_outside.task = this;
}

namespace {

// Hosts of tasks given up on while stuck in C: never used, closed or pooled again (a
// given-up thread may still be inside), only kept reachable.
QMutex g_abandonedMutex;
std::vector<LuaHost *> g_abandonedHosts;
std::atomic<void (*)(lua_State *)> g_extraApi{nullptr};

} // namespace

LuaTask::~LuaTask()
{
    m_io.clear();
    m_services.timers.cancel(m_timerId);
    m_services.timers.cancel(m_deadlockTimerId);
    if (m_host && m_cancelLevel.load() == 3) {
        QMutexLocker lock(&g_abandonedMutex);
        g_abandonedHosts.push_back(std::exchange(m_host, nullptr));
    }
    if (m_host)
        releaseHost();
}

void LuaTask::setExtraApi(void (*install)(lua_State *L))
{
    g_extraApi.store(install);
}

void LuaTask::retire()
{
    if (--m_owners == 0)
        delete this;
}

void LuaTask::abandonedRunReturned()
{
    retire();
}

// The slice has ignored stop() for a grace period: its worker is in a C call that does not
// return (the hook never ran). The task ends now, saying where it was last seen; the
// thread is left to the call, and the pool gets another in its place (WorkQueue::abandon).
void LuaTask::giveUp()
{
    if (m_finished || !m_inSlice)
        return;
    // Where it is stuck, read while the worker cannot unwind: the hook waits for this
    // mutex before it raises (level 3), and the call itself leaves the Lua stack as it is.
    auto stack = std::make_shared<CoroutineStack>();
    QString cFunction;
    QString stuckIn;
    {
        QMutexLocker lock(&m_liveMutex);
        if (!m_services.work.abandon(this))
            return; // not running now: the slice ends (or starts and stops) by itself
        m_cancelLevel.store(3);
        if (lua_State *L = m_runningL.load()) {
            lua_Debug ar;
            for (int level = 0; level < 64 && lua_getstack(L, level, &ar); ++level) {
                if (!lua_getinfo(L, "Sln", &ar))
                    break;
                if (ar.currentline < 0) {
                    if (stack->frames.isEmpty() && cFunction.isEmpty() && ar.name)
                        cFunction = QString::fromUtf8(ar.name);
                    continue;
                }
                stack->frames.append(StackFrame{
                    QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src),
                    ar.currentline,
                    ar.name ? QString::fromUtf8(ar.name) : QStringLiteral("main chunk")});
            }
        }
        if (stack->frames.isEmpty() && m_blockingAt)
            stack->frames.append(*m_blockingAt);
        // Not in C: in code that runs without hooks (a __gc metamethod).
        const QString what = cFunction.isEmpty()
                                 ? QStringLiteral("code no hook reaches (a C call or a __gc)")
                                 : QStringLiteral("C function %1").arg(cFunction);
        stack->awaiting = QStringLiteral("nothing: stuck in %1").arg(what);
        stuckIn = what;
    }
    m_owners = 2; // this, and the given-up slice until it returns (if ever)
    m_finished = true;
    m_inSlice = false;
    m_io.clear();
    m_services.timers.cancel(std::exchange(m_timerId, 0));
    m_services.timers.cancel(std::exchange(m_deadlockTimerId, 0));
    m_endStack = stack;
    QString where = QStringLiteral("an unknown place");
    if (!stack->frames.isEmpty())
        where = QStringLiteral("%1:%2")
                    .arg(stack->frames.constFirst().file.section(u'/', -1))
                    .arg(stack->frames.constFirst().line);
    RunOutcome outcome;
    outcome.kind = RunOutcome::Failed;
    outcome.givenUp = true;
    outcome.stack = stack;
    outcome.error = QStringLiteral("stuck in %1 at %2 past the grace period; its worker "
                                   "thread was given up")
                        .arg(stuckIn, where);
    m_services.observer.runFinished(m_id, std::move(outcome)); // may retire us later
}

Coroutine *LuaTask::context(lua_State *L)
{
    return *static_cast<Coroutine **>(lua_getextraspace(L));
}

// ---- engine thread ----

void LuaTask::start()
{
    dispatchSlice();
}

void LuaTask::cancel()
{
    if (m_finished)
        return;
    int expected = 0;
    m_cancelLevel.compare_exchange_strong(expected, 1);
    m_wantCancel = true;
    if (m_inSlice)
        interrupt();
    else
        dispatchSlice();
}

void LuaTask::stop()
{
    if (m_finished)
        return;
    m_cancelLevel.store(2);
    m_wantStop = true;
    if (m_inSlice)
        interrupt();
    else
        dispatchSlice();
}

void LuaTask::interrupt()
{
    // As lua.c does from its SIGINT handler: lua_sethook may be called asynchronously.
    if (lua_State *L = m_runningL.load())
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
}

void LuaTask::poke()
{
    if (m_inSlice && steadyNowNs() - m_sliceStartNs.load() > LookInAfterNs)
        interrupt();
}

std::shared_ptr<const CoroutineStack> LuaTask::liveStack() const
{
    if (m_inSlice) {
        auto running = std::make_shared<CoroutineStack>();
        const qint64 ms = (steadyNowNs() - m_resumeStartNs.load()) / 1000000;
        QMutexLocker lock(&m_liveMutex);
        if (ms > BlockingMs && m_blockingAt) {
            running->frames.append(*m_blockingAt);
            running->awaiting = QStringLiteral("nothing: blocking its worker for %1 ms").arg(ms);
        } else {
            running->awaiting = QStringLiteral("nothing: running on a worker");
        }
        return running;
    }
    // Between slices the Lua state is the engine thread's to read.
    if (m_finished || !m_main)
        return m_endStack;
    auto stack = std::make_shared<CoroutineStack>(captureTree(m_main));
    if (m_mainEnded) // its children still run (their cleanup, after a cancel)
        stack->awaiting = QStringLiteral("its children to end (the main chunk has ended)");
    return stack;
}

void LuaTask::dispatchSlice()
{
    m_in.wakes.swap(m_readyWakes);
    m_readyWakes.clear();
    m_in.cancel = std::exchange(m_wantCancel, false);
    m_in.stop = std::exchange(m_wantStop, false);
    m_in.deadlockCheck = std::exchange(m_wantDeadlockCheck, false);
    m_inSlice = true;
    m_services.work.push(this);
}

void LuaTask::done()
{
    m_inSlice = false;
    m_ioDone.clear();
    deliverLive();
    SliceOutput out = std::move(m_out);
    m_out = SliceOutput();
    m_outLogBytes = 0;
    if (!out.log.isEmpty())
        m_services.observer.runLog(m_id, std::move(out.log));
    if (out.progressSet)
        m_services.observer.runProgress(m_id, out.progress, out.status);
    for (int id : out.ioAborts)
        m_io.erase(id);
    if (out.finished) {
        m_io.clear();
        m_finished = true;
        m_endStack = out.outcome.stack;
        m_services.timers.cancel(std::exchange(m_timerId, 0));
        m_services.timers.cancel(std::exchange(m_deadlockTimerId, 0));
        m_services.observer.runFinished(m_id, std::move(out.outcome)); // may delete us later
        return;
    }
    for (const Wake &w : out.sleeps)
        addSleeper(w);
    for (auto &[wake, request] : out.ioStarts) {
        auto call = IoCall::start(request, m_services.timers, [this, w = wake] { ioFinished(w); });
        if (call->isComplete())
            m_ioDone.push_back(std::move(call));
        else
            m_io[wake.id] = std::move(call);
    }
    if (!m_inSlice && (!m_readyWakes.empty() || m_wantCancel || m_wantStop))
        dispatchSlice();
    if (!m_inSlice)
        watchForDeadlock();
}

// SPEC section 9: with no timer, I/O, child process, cancel or ready coroutine left,
// nothing can ever wake the task again. Looked at a little later (a cheap test here,
// nothing per coroutine), in a slice, which names the cycle (see checkDeadlock).
bool LuaTask::nothingCanWake() const
{
    return !m_inSlice && !m_finished && m_readyWakes.empty() && m_sleepers.empty() &&
           m_io.empty() && !m_wantCancel && !m_wantStop && m_cancelLevel.load() == 0 &&
           m_deadlock.isEmpty();
}

void LuaTask::watchForDeadlock()
{
    if (m_deadlockTimerId != 0 || !nothingCanWake())
        return;
    m_deadlockTimerId = m_services.timers.add(steadyNowNs() + DeadlockLookNs, [this] {
        m_deadlockTimerId = 0;
        if (nothingCanWake()) {
            m_wantDeadlockCheck = true;
            dispatchSlice();
        }
    });
}

void LuaTask::ioFinished(const Wake &wake)
{
    if (auto it = m_io.find(wake.id); it != m_io.end()) {
        m_ioDone.push_back(std::move(it->second)); // not deleted inside its own callback
        m_io.erase(it);
    }
    m_readyWakes.push_back(wake);
    if (!m_inSlice && !m_finished)
        dispatchSlice();
}

void LuaTask::deliverLive()
{
    QStringList lines;
    bool progressSet = false;
    double progress = 0;
    QString status;
    {
        QMutexLocker lock(&m_liveMutex);
        lines.swap(m_liveLog);
        m_liveLogBytes = 0;
        if (m_liveDropped > 0)
            lines.append(QStringLiteral("[taskdeck: %1 log lines dropped]")
                             .arg(std::exchange(m_liveDropped, 0)));
        progressSet = std::exchange(m_liveProgressSet, false);
        progress = m_liveProgress;
        status = m_liveStatus;
        m_livePosted = false;
    }
    if (!lines.isEmpty())
        m_services.observer.runLog(m_id, std::move(lines));
    if (progressSet)
        m_services.observer.runProgress(m_id, progress, status);
}

void LuaTask::addSleeper(const Wake &wake)
{
    if (wake.deadline < 0)
        return; // waits for something other than time
    m_sleepers.push_back(Sleeper{wake.deadline, wake});
    std::push_heap(m_sleepers.begin(), m_sleepers.end(), std::greater<>{});
    if (m_timerId == 0 || wake.deadline < m_timerDeadline) {
        m_services.timers.cancel(m_timerId);
        m_timerDeadline = wake.deadline;
        m_timerId = m_services.timers.add(wake.deadline, [this] { onTimer(); });
    }
}

void LuaTask::onTimer()
{
    m_timerId = 0;
    const qint64 now = steadyNowNs();
    while (!m_sleepers.empty() && m_sleepers.front().deadline <= now) {
        std::pop_heap(m_sleepers.begin(), m_sleepers.end(), std::greater<>{});
        m_readyWakes.push_back(m_sleepers.back().wake);
        m_sleepers.pop_back();
    }
    if (!m_sleepers.empty()) {
        m_timerDeadline = m_sleepers.front().deadline;
        m_timerId = m_services.timers.add(m_timerDeadline, [this] { onTimer(); });
    }
    if (!m_inSlice && !m_finished && !m_readyWakes.empty())
        dispatchSlice();
}

// ---- worker thread ----

void LuaTask::run()
{
    m_lastFlushNs = steadyNowNs();
    m_sliceStartNs.store(m_lastFlushNs);
    if (!m_host) {
        if (!begin())
            return;
    }
    if (m_in.stop || m_cancelLevel.load() >= 2) {
        auto stack = std::make_shared<CoroutineStack>(captureTree(m_main));
        finish(RunOutcome::Cancelled, QStringLiteral("stopped"), {}, stack);
        return;
    }
    for (const Wake &w : m_in.wakes)
        m_localReady.push_back(w);
    m_in.wakes.clear();
    if (std::exchange(m_in.deadlockCheck, false) && m_localReady.empty() && !m_in.cancel &&
        checkDeadlock())
        return;
    if (m_in.cancel && !m_mainEnded)
        cancelTree(m_main);
    // A vector read from the front (std::deque allocates even when empty, per task).
    for (size_t next = 0; next < m_localReady.size(); ++next) {
        const Wake w = m_localReady[next];
        Coroutine *co = liveCoroutine(w.id);
        if (!co)
            continue; // ended meanwhile
        if (!co->suspended || co->serial != w.serial)
            continue; // woken twice (say, timer and cancel): the first one counts
        resume(co);
        if (m_out.finished || m_cancelLevel.load() == 3)
            return;
    }
    m_localReady.clear();
}

void LuaTask::makeReady(Coroutine *co)
{
    m_localReady.push_back(Wake{co->id, co->serial, -1});
}

// Cancels `co` and every coroutine it spawned that is still running: each gets the
// cancellation at its current (or next) suspension point; one not started yet never
// runs. A shield()ed child is spared unless `force`.
void LuaTask::cancelTree(Coroutine *co, bool force)
{
    if (!co->dead && !co->cancelDelivered && !co->cancelPending) {
        co->cancelPending = true;
        if (co->suspended)
            makeReady(co);
    }
    for (Coroutine *child = co->firstChild; child; child = child->nextSibling)
        if (force || !child->shielded)
            cancelTree(child, force);
}

bool LuaTask::begin()
{
    if (m_cancelLevel.load() > 0) {
        finish(RunOutcome::Cancelled, QStringLiteral("cancelled"));
        return false;
    }
    m_host = m_pool.acquire();
    lua_State *L = m_host->state();
    if (auto install = g_extraApi.load())
        install(L);
    m_host->setTaskLimit(
        size_t(m_spec->memoryBytes > 0 ? m_spec->memoryBytes : m_defaultMemoryLimit));
    *static_cast<Coroutine **>(lua_getextraspace(L)) = &m_outside;

    // A task's globals: its own table, falling back to the host's.
    lua_pushcfunction(L, [](lua_State *L) -> int {
        LuaTask *t = static_cast<LuaTask *>(lua_touserdata(L, 1));
        const TaskSpec &spec = *t->m_spec;
        lua_settop(L, 0);
        t->m_host->pushTaskEnv(); // 1: env (`task` is a shared proxy: see lib/tasklib.cpp)

        t->m_host->pushChunk(spec.source, spec.file); // 2: main chunk
        lua_pushvalue(L, 1);
        lua_setupvalue(L, 2, 1); // _ENV

        // 3: the main coroutine's record, as for spawn() (see lib/corolib.cpp)
        auto *co = new (lua_newuserdatauv(L, sizeof(Coroutine), 3)) Coroutine;
        luaL_setmetatable(L, "taskdeck.Handle"); // once per task: by name is fine
        co->task = t;
        co->id = t->m_nextCoroutineId++;
        // The previous task's main coroutine, if it returned normally, serves again.
        lua_State *thread = nullptr;
        if (const int spare = t->m_host->takeSpareThread(); spare != LUA_NOREF) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, spare);
            luaL_unref(L, LUA_REGISTRYINDEX, spare);
            thread = lua_tothread(L, -1);
        } else {
            thread = lua_newthread(L);
        }
        lua_setiuservalue(L, 3, 1);
        co->L = thread;
        *static_cast<Coroutine **>(lua_getextraspace(thread)) = co;
        lua_pushvalue(L, 2);
        lua_setiuservalue(L, 3, 3); // as spawn() keeps it (entrySlot of no arguments)
        lua_pushvalue(L, 2);
        lua_xmove(L, thread, 1);
        co->startArgs = 0;
        lua_pushvalue(L, 3);
        co->ref = luaL_ref(L, LUA_REGISTRYINDEX);
        t->m_main = co;
        return 0;
    });
    lua_pushlightuserdata(L, this);
    const int status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) {
        const QString error = errorText(L, status, -1);
        // A syntax error has no stack: point at the file and line it names.
        auto stack = std::make_shared<CoroutineStack>();
        const QString prefix = m_spec->file + u':';
        if (error.startsWith(prefix)) {
            const int line = error.mid(prefix.size()).section(u':', 0, 0).toInt();
            stack->frames.append(StackFrame{m_spec->file, line, QStringLiteral("main chunk")});
        }
        finish(RunOutcome::Failed, error, {}, stack);
        return false;
    }
    lua_settop(L, 0);
    m_main->suspended = true;
    resume(m_main);
    return !m_out.finished;
}

void LuaTask::resume(Coroutine *co)
{
    if (!co->L && co->bareSleep) {
        // spawn(sleep, s) woken: its sleep is over; or a cancel came, delivered below as
        // to a child that never ran.
        co->bareSleep = false;
        if (!co->cancelPending) {
            co->suspended = false;
            co->awaitKind = nullptr;
            ended(co, LUA_OK, 0);
            return;
        }
    } else if (!co->L && !co->cancelPending) {
        const double seconds = LuaApi::bareSleepSeconds(m_host->state(), co, &LuaTask::l_sleep);
        if (seconds >= 0) {
            // As sleep() would suspend it, without a thread to suspend.
            co->bareSleep = true;
            co->suspended = true;
            ++co->serial;
            co->awaitKind = "sleep";
            co->awaitArg = seconds;
            co->awaitingSinceMs = QDateTime::currentMSecsSinceEpoch();
            co->wakeAtNs = deadlineAfterSeconds(seconds);
            m_out.sleeps.push_back(Wake{co->id, co->serial, co->wakeAtNs});
            return;
        }
    }
    if (!co->L) {
        lua_State *L = m_host->state();
        if (const int status = LuaApi::attachThread(L, co); status != LUA_OK) {
            // No thread to run it on (the memory cap): the task ends, as when spawn()
            // itself met the cap.
            const QString error = errorText(L, status, -1);
            lua_settop(L, 0);
            finish(RunOutcome::Failed, error, {},
                   std::make_shared<CoroutineStack>(captureTree(m_main)));
            return;
        }
    }
    int nargs = 0;
    if (co->startArgs >= 0) {
        nargs = std::exchange(co->startArgs, -1);
        if (co->cancelPending) { // cancelled before it ever ran
            co->cancelDelivered = true;
            lua_settop(co->L, 0);
            lua_pushnil(co->L); // no error value needed: see ended()
            co->suspended = false;
            ended(co, LUA_ERRRUN, 0);
            return;
        }
    }
    co->suspended = false;
    co->wakeAtNs = -1;
    Coroutine *previous = std::exchange(m_current, co);
    m_runningL.store(co->L);
    if (m_cancelLevel.load() > 0)
        lua_sethook(co->L, &LuaTask::hook, LUA_MASKCOUNT, 1); // cancel arrived meanwhile
    int nresults = 0;
    const qint64 started = steadyNowNs();
    m_resumeStartNs.store(started);
    const int status = lua_resume(co->L, nullptr, nargs, &nresults);
    if (m_cancelLevel.load() == 3)
        return; // given up meanwhile: nothing here is this slice's any more
    m_runningL.store(nullptr);
    m_current = previous;
    if (const qint64 ms = (steadyNowNs() - started) / 1000000; ms > BlockingMs) {
        std::unique_ptr<StackFrame> seen;
        {
            QMutexLocker lock(&m_liveMutex);
            seen = std::move(m_blockingAt);
        }
        if (seen)
            appendLog(QStringLiteral("[taskdeck: coroutine #%1 ran %2 ms without waiting, "
                                     "blocking its worker; last seen at %3:%4]")
                          .arg(co->id)
                          .arg(ms)
                          .arg(seen->file.section(u'/', -1))
                          .arg(seen->line));
    }
    if (status == LUA_YIELD) {
        lua_pop(co->L, nresults);
        co->suspended = true;
        ++co->serial;
        if (co->wakeAtNs == -1) { // a bare coroutine.yield(): like sleep(0)
            co->wakeAtNs = steadyNowNs();
            co->awaitKind = "yield";
            co->awaitingSinceMs = QDateTime::currentMSecsSinceEpoch();
        }
        if (co->wakeAtNs >= 0)
            m_out.sleeps.push_back(Wake{co->id, co->serial, co->wakeAtNs});
        if (co->io && !co->ioQueued) {
            co->ioQueued = true;
            m_out.ioStarts.emplace_back(Wake{co->id, co->serial, -1}, co->io);
        }
        return;
    }
    ended(co, status, nresults);
}

// `co` returned (its results on its stack) or raised (the error on top).
void LuaTask::ended(Coroutine *co, int status, int nresults)
{
    co->dead = true;
    co->results = nresults;
    co->failed = status != LUA_OK;
    // Ended by a cancellation: its marker, or nil for one cancelled before it ran.
    co->cancelled = co->failed &&
                    (luaIsCancelMarker(co->L, -1) || (co->cancelDelivered && lua_isnil(co->L, -1)));
    co->group.reset();
    if (co != m_main)
        m_live.erase(co->id);

    // Wake whoever waits on it.
    for (const auto &group : co->waiters) {
        if (group->fired)
            continue;
        --group->remaining;
        if (group->remaining <= 0 || group->mode == WaitGroup::First ||
            (group->mode == WaitGroup::FirstError && co->failed && !co->cancelled)) {
            group->fired = true;
            Coroutine *waiter = liveCoroutine(group->waiterId);
            if (waiter && waiter->suspended)
                makeReady(waiter);
        }
    }
    co->waiters.clear();

    if (co == m_main) {
        m_mainEnded = true;
        if (status == LUA_OK) {
            // The results as JSON, within the task's memory cap (however often a table
            // is reused in them) and cut short by a cancel or a timeout.
            LuaJsonBudget budget;
            budget.maxBytes = qMin(budget.maxBytes, m_spec->memoryBytes > 0 ? m_spec->memoryBytes
                                                                            : m_defaultMemoryLimit);
            budget.cancel = &m_cancelLevel;
            QString error;
            const QJsonValue result =
                luaResultsToJson(co->L, lua_gettop(co->L) - nresults + 1, nresults, budget, &error);
            if (error.isEmpty()) {
                m_mainOutcome.kind = RunOutcome::Succeeded;
                m_mainOutcome.result = result;
            } else {
                m_mainOutcome.kind =
                    error == u"cancelled" ? RunOutcome::Cancelled : RunOutcome::Failed;
                m_mainOutcome.error = error;
            }
        } else {
            // The stack where it ended, children included, before they are cancelled.
            m_mainOutcome.stack = std::make_shared<CoroutineStack>(captureTree(co));
            m_mainOutcome.kind = co->cancelled ? RunOutcome::Cancelled : RunOutcome::Failed;
            m_mainOutcome.error = errorText(co->L, status, -1);
        }
        // As asyncio.run does: the children still running are cancelled, and the task
        // ends once they have.
        for (Coroutine *child = co->firstChild; child; child = child->nextSibling)
            cancelTree(child, true);
    } else if (co->failed && !co->cancelled) {
        noteLostError(co, status); // logged at the end unless someone retrieves it
    }
    if (!m_names.empty() && co != m_main)
        m_names.erase(co->id);

    // Children outlive their parent's record in the tree: hand them to the grandparent
    // (or keep them under main), so the tree stays connected. Main's own stay under it:
    // those still running (their cleanup after a cancel) are shown until they end.
    Coroutine *adopter = co->parent ? co->parent : nullptr;
    while (co != m_main && co->firstChild) {
        Coroutine *child = co->firstChild;
        co->firstChild = child->nextSibling;
        child->parent = adopter;
        child->prevSibling = nullptr;
        child->nextSibling = nullptr;
        if (adopter) {
            child->nextSibling = adopter->firstChild;
            if (adopter->firstChild)
                adopter->firstChild->prevSibling = child;
            adopter->firstChild = child;
        }
    }
    if (co->parent) {
        if (co->prevSibling)
            co->prevSibling->nextSibling = co->nextSibling;
        else
            co->parent->firstChild = co->nextSibling;
        if (co->nextSibling)
            co->nextSibling->prevSibling = co->prevSibling;
        co->parent = co->prevSibling = co->nextSibling = nullptr;
    }
    if (co != m_main) {
        lua_State *L = m_host->state();
        LuaApi::detachThread(L, co, status, nresults);
        luaL_unref(L, LUA_REGISTRYINDEX, std::exchange(co->ref, LUA_NOREF));
    }
    if (m_mainEnded && m_live.empty())
        endTask();
}

void LuaTask::endTask()
{
    RunOutcome outcome = std::move(m_mainOutcome);
    finish(outcome.kind, outcome.error, outcome.result, outcome.stack);
}

QString LuaTask::errorText(lua_State *L, int status, int index) const
{
    if (status == LUA_ERRMEM && m_host && m_host->limitHit()) {
        const qint64 limit = m_spec->memoryBytes > 0 ? m_spec->memoryBytes : m_defaultMemoryLimit;
        return limit < 1024 ? QStringLiteral("memory limit exceeded (%1 bytes)").arg(limit)
                            : QStringLiteral("memory limit exceeded (%1 KiB)").arg(limit / 1024);
    }
    if (lua_isnil(L, index))
        return QStringLiteral("cancelled");
    const QString marker = luaMarkerText(L, index);
    if (!marker.isEmpty())
        return marker;
    return luaErrorToString(L, index, m_host->state(), &m_cancelLevel);
}

// The tree under `co`; from the root, with the task's sync objects read first, so that
// each awaiting text can say who holds what (SPEC section 9).
CoroutineStack LuaTask::captureTree(Coroutine *co) const
{
    if (m_stackRegistry)
        return captureNodes(co);
    const std::shared_ptr<SyncRegistry> registry = syncRegistry();
    m_stackRegistry = registry.get();
    CoroutineStack stack = captureNodes(co);
    m_stackRegistry = nullptr;
    if (!registry->resources.isEmpty())
        stack.resources = registry;
    stack.deadlock = m_deadlock;
    return stack;
}

CoroutineStack LuaTask::captureNodes(Coroutine *co) const
{
    CoroutineStack stack = captureStack(co);
    // Identical siblings become one node with a count ("50 × fetch_page"): up to
    // MaxChildrenScanned are looked at, MaxChildrenShown nodes kept.
    int scanned = 0, more = 0;
    for (Coroutine *child = co->firstChild; child; child = child->nextSibling) {
        if (scanned < MaxChildrenScanned) {
            stack.children.append(captureNodes(child));
            ++scanned;
        } else {
            ++more;
        }
    }
    mergeIdenticalSiblings(stack.children);
    if (stack.children.size() > MaxChildrenShown) {
        for (qsizetype i = MaxChildrenShown; i < stack.children.size(); ++i)
            more += stack.children[i].count;
        stack.children.resize(MaxChildrenShown);
    }
    if (more > 0) {
        CoroutineStack summary;
        summary.awaiting = QStringLiteral("… and %1 more coroutines").arg(more);
        stack.children.append(summary);
    }
    return stack;
}

CoroutineStack LuaTask::captureStack(Coroutine *co) const
{
    CoroutineStack stack;
    stack.id = co->id;
    stack.name = coroutineName(co);
    if ((co->suspended || co->cancelDelivered) && co->awaitKind) {
        stack.awaiting = awaitingText(co);
        stack.awaitingSinceMs = co->awaitingSinceMs;
    }
    if (!co->L)
        return stack; // not started yet: no frames
    // Like luaL_traceback: the innermost and outermost frames of a deep stack, with a
    // marker between them. lua_getstack is O(level), so the depth is found by bisection.
    constexpr int Head = 10;
    constexpr int Tail = 11;
    lua_Debug ar;
    int last = 0;
    {
        int low = 0, high = 1;
        while (lua_getstack(co->L, high, &ar)) {
            low = high;
            high = high > (1 << 28) ? high + 1 : high * 2;
        }
        while (low + 1 < high) {
            const int mid = low + (high - low) / 2;
            (lua_getstack(co->L, mid, &ar) ? low : high) = mid;
        }
        last = lua_getstack(co->L, 0, &ar) ? low : -1;
    }
    auto addFrame = [&](int level) {
        if (!lua_getstack(co->L, level, &ar) || !lua_getinfo(co->L, "Slnt", &ar))
            return;
        // A tail call replaced its caller's frame: say so where Lua lost it; for the
        // outermost one, the function the coroutine was started with (kept by spawn).
        const bool tail = ar.istailcall;
        if (ar.currentline >= 0 && qstrcmp(ar.source, "=taskdeck") != 0) {
            StackFrame frame;
            frame.file = QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
            frame.line = ar.currentline;
            if (ar.name)
                frame.function = QString::fromUtf8(ar.name);
            else if (qstrcmp(ar.what, "main") == 0)
                frame.function = QStringLiteral("main chunk");
            else if (level == last && !tail && co != m_main)
                frame.function = coroutineName(co); // the function spawn() started
            else
                frame.function = QStringLiteral("function <%1:%2>")
                                     .arg(frame.file.section(u'/', -1))
                                     .arg(ar.linedefined);
            stack.frames.append(frame);
        } // else a C function or the toolkit's own code: `awaiting` says what it awaits
        if (tail)
            stack.frames.append(level == last ? entryFrame(co) : tailCallFrame());
    };
    if (last < Head + Tail) {
        for (int level = 0; level <= last; ++level)
            addFrame(level);
    } else {
        for (int level = 0; level < Head; ++level)
            addFrame(level);
        stack.frames.append(StackFrame{
            QString(), 0, QStringLiteral("... (%1 more frames)").arg(last + 1 - Head - Tail)});
        for (int level = last + 1 - Tail; level <= last; ++level)
            addFrame(level);
    }
    return stack;
}

void LuaTask::finish(RunOutcome::Kind kind, const QString &error, QJsonValue result,
                     std::shared_ptr<const CoroutineStack> stack)
{
    logLostErrors();
    m_out.finished = true;
    m_out.outcome.kind = kind;
    m_out.outcome.error = error;
    m_out.outcome.result = std::move(result);
    m_out.outcome.stack = std::move(stack);
    if (m_host)
        releaseHost();
}

// The coroutine `id` if it has not ended. The main one is kept out of m_live: most tasks
// have no other, and a hash map's first insert costs two allocations per task.
Coroutine *LuaTask::liveCoroutine(int id) const
{
    if (m_main && m_main->id == id)
        return m_main->dead ? nullptr : m_main;
    auto it = m_live.find(id);
    return it == m_live.end() ? nullptr : it->second;
}

void LuaTask::releaseHost()
{
    lua_State *L = m_host->state();
    for (auto &[id, co] : m_live)
        luaL_unref(L, LUA_REGISTRYINDEX, std::exchange(co->ref, LUA_NOREF));
    m_live.clear();
    m_localReady.clear();
    if (m_main) {
        // A main coroutine that returned normally can run the next task's main chunk.
        lua_State *thread = m_main->L;
        if (m_main->dead && !m_main->failed && !m_main->threadKept &&
            lua_status(thread) == LUA_OK && lua_resetthread(thread) == LUA_OK) {
            lua_sethook(thread, nullptr, 0, 0);
            lua_pushthread(thread);
            lua_xmove(thread, L, 1);
            m_host->keepSpareThread(luaL_ref(L, LUA_REGISTRYINDEX));
        }
        if (m_main->ref != LUA_NOREF)
            luaL_unref(L, LUA_REGISTRYINDEX, std::exchange(m_main->ref, LUA_NOREF));
    }
    m_main = nullptr;
    m_current = nullptr;
    luaL_unref(L, LUA_REGISTRYINDEX, std::exchange(m_argsRef, LUA_NOREF));
    luaL_unref(L, LUA_REGISTRYINDEX, std::exchange(m_syncRef, LUA_NOREF));
    *static_cast<Coroutine **>(lua_getextraspace(L)) = nullptr;
    m_pool.release(std::exchange(m_host, nullptr));
}

void LuaTask::flushLive()
{
    m_lastFlushNs = steadyNowNs();
    if (m_cancelLevel.load() == 3)
        return; // given up: the task has ended
    if (m_out.log.isEmpty() && !m_out.progressSet)
        return;
    QMutexLocker lock(&m_liveMutex);
    if (m_liveLog.size() > MaxUndeliveredLines || m_liveLogBytes > MaxUndeliveredLogBytes) {
        // The engine thread is not keeping up: drop the newer lines, which the log would
        // drop too (it keeps the first lines, and the last ones arrive at the slice's end).
        m_liveDropped += m_out.log.size();
    } else {
        m_liveLog.append(std::move(m_out.log));
        m_liveLogBytes += m_outLogBytes;
    }
    m_outLogBytes = 0;
    m_out.log.clear();
    if (m_out.progressSet) {
        m_liveProgressSet = true;
        m_liveProgress = m_out.progress;
        m_liveStatus = m_out.status;
        m_out.progressSet = false;
    }
    if (!std::exchange(m_livePosted, true)) {
        // Runs before this slice's completion, which this worker posts later.
        QMetaObject::invokeMethod(
            &m_services.work, [this] { deliverLive(); }, Qt::QueuedConnection);
    }
}

void LuaTask::appendLog(QString line)
{
    if (m_out.log.size() >= MaxLogLinesPerSlice || m_outLogBytes >= MaxSliceLogBytes)
        flushLive();
    if (line.size() > MaxLogLineBytes)
        line = line.left(MaxLogLineBytes) + QStringLiteral("… [line cut]");
    m_outLogBytes += 2 * qint64(line.size()) + 32;
    m_out.log.append(std::move(line));
}
