#include "luatask.h"

#include "luahost.h"
#include "luavalue.h"

#include <QDateTime>

#include <lua.hpp>

#include <cmath>

namespace {

// Registry keys (addresses are unique per process).
char CancelledKey;
char StoppedKey;
char TimeoutKey;
char EnvMetaKey;

constexpr qint64 LookInAfterNs = 50'000'000;
constexpr int MaxLogLinesPerSlice = 10000;
constexpr int MaxUndeliveredLines = 50000;
constexpr int MaxLogLineBytes = 64 * 1024;

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

QString formatSeconds(double s)
{
    return QString::number(s, 'g', 6);
}

// Makes a unique error object: a table whose tostring is `text`; is_cancelled and
// is_timeout recognise these by identity.
void makeMarker(lua_State *L, void *key, const char *text)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_pushstring(L, text);
    lua_pushcclosure(
        L, [](lua_State *L) -> int {
            lua_pushvalue(L, lua_upvalueindex(1));
            return 1;
        },
        1);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

bool isMarker(lua_State *L, int index, void *key)
{
    index = lua_absindex(L, index);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    const bool same = lua_rawequal(L, index, -1);
    lua_pop(L, 1);
    return same;
}

} // namespace

LuaTask::LuaTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                 const RunServices &services, LuaHostPool &pool)
    : m_id(id)
    , m_spec(std::move(spec))
    , m_attempt(attempt)
    , m_services(services)
    , m_pool(pool)
{
    m_outside.task = this;
}

LuaTask::~LuaTask()
{
    m_services.timers.cancel(m_timerId);
    if (m_host)
        releaseHost();
}

Coroutine *LuaTask::context(lua_State *L)
{
    return *static_cast<Coroutine **>(lua_getextraspace(L));
}

void LuaTask::installApi(lua_State *L)
{
    *static_cast<Coroutine **>(lua_getextraspace(L)) = nullptr;
    makeMarker(L, &CancelledKey, "cancelled");
    makeMarker(L, &StoppedKey, "stopped");
    makeMarker(L, &TimeoutKey, "timeout");

    const luaL_Reg api[] = {
        {"sleep", &LuaTask::l_sleep},
        {"log", &LuaTask::l_log},
        {"print", &LuaTask::l_print},
        {"progress", &LuaTask::l_progress},
        {"is_cancelled", &LuaTask::l_isCancelled},
        {"is_timeout", &LuaTask::l_isTimeout},
        {nullptr, nullptr},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, api, 0);
    // Taking the whole application down, or unhooking the engine's watchdog, is not a
    // task's business.
    lua_getfield(L, -1, "os");
    lua_pushstring(L, "os.exit is not available in a task: return or error() instead");
    lua_pushcclosure(L, &LuaTask::l_disabled, 1);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    lua_getfield(L, -1, "debug");
    lua_pushstring(L, "debug.sethook is not available in a task");
    lua_pushcclosure(L, &LuaTask::l_disabled, 1);
    lua_setfield(L, -2, "sethook");
    lua_pop(L, 1);

    // coroutine.resume/wrap that tell the engine which Lua thread is running.
    lua_getfield(L, -1, "coroutine");
    lua_pushcfunction(L, &LuaTask::l_coresume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, &LuaTask::l_cowrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);

    // Each task gets its own global table that falls back to this one.
    lua_newtable(L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "__index");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &EnvMetaKey);
    lua_pop(L, 1);
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

void LuaTask::dispatchSlice()
{
    m_in.wakes.swap(m_readyWakes);
    m_readyWakes.clear();
    m_in.cancel = std::exchange(m_wantCancel, false);
    m_in.stop = std::exchange(m_wantStop, false);
    m_inSlice = true;
    m_services.work.push(this);
}

void LuaTask::done()
{
    m_inSlice = false;
    deliverLive();
    SliceOutput out = std::move(m_out);
    m_out = SliceOutput();
    if (!out.log.isEmpty())
        m_services.observer.runLog(m_id, std::move(out.log));
    if (out.progressSet)
        m_services.observer.runProgress(m_id, out.progress, out.status);
    if (out.stack)
        m_liveStack = out.stack;
    if (out.finished) {
        m_finished = true;
        m_services.timers.cancel(std::exchange(m_timerId, 0));
        m_services.observer.runFinished(m_id, std::move(out.outcome)); // may delete us later
        return;
    }
    for (const Wake &w : out.sleeps)
        addSleeper(w.co, w.serial, w.co->wakeAtNs);
    if (!m_readyWakes.empty() || m_wantCancel || m_wantStop)
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
        if (m_liveDropped > 0)
            lines.prepend(QStringLiteral("[taskdeck: %1 log lines dropped]")
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

void LuaTask::addSleeper(Coroutine *co, quint64 serial, qint64 deadlineNs)
{
    if (deadlineNs == -2)
        return; // waits for something other than time; woken by cancel
    m_sleepers.push_back(Sleeper{deadlineNs, Wake{co, serial}});
    std::push_heap(m_sleepers.begin(), m_sleepers.end(), std::greater<>{});
    if (m_timerId == 0 || deadlineNs < m_timerDeadline) {
        m_services.timers.cancel(m_timerId);
        m_timerDeadline = deadlineNs;
        m_timerId = m_services.timers.add(deadlineNs, [this] { onTimer(); });
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
    if (m_in.stop || m_cancelLevel.load() == 2) {
        std::shared_ptr<const CoroutineStack> stack = m_liveStack;
        finish(RunOutcome::Cancelled, QStringLiteral("stopped"), {}, stack);
        return;
    }
    std::vector<Wake> wakes = std::move(m_in.wakes);
    m_in.wakes = {};
    if (m_in.cancel) {
        for (Coroutine &co : m_coroutines)
            if (co.suspended && !co.cancelDelivered) {
                co.cancelPending = true;
                wakes.push_back(Wake{&co, co.serial});
            }
    }
    for (const Wake &w : wakes) {
        Coroutine *co = w.co;
        if (co->dead || !co->suspended || co->serial != w.serial)
            continue; // woken twice (timer and cancel): the first one counts
        resume(co);
        if (m_out.finished)
            return;
    }
}

bool LuaTask::begin()
{
    if (m_cancelLevel.load() > 0) {
        finish(RunOutcome::Cancelled, QStringLiteral("cancelled"));
        return false;
    }
    m_host = m_pool.acquire();
    lua_State *L = m_host->state();
    m_host->setTaskLimit(size_t(m_spec->memoryBytes > 0 ? m_spec->memoryBytes
                                                        : m_services.defaultMemoryLimit));
    *static_cast<Coroutine **>(lua_getextraspace(L)) = &m_outside;

    // A task's globals: its own table, falling back to the host's.
    lua_pushcfunction(L, [](lua_State *L) -> int {
        LuaTask *t = static_cast<LuaTask *>(lua_touserdata(L, 1));
        const TaskSpec &spec = *t->m_spec;
        lua_settop(L, 0);
        lua_createtable(L, 0, 4); // 1: env
        lua_rawgetp(L, LUA_REGISTRYINDEX, &EnvMetaKey);
        lua_setmetatable(L, 1);
        lua_pushvalue(L, 1);
        lua_setfield(L, 1, "_G");
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, lua_Integer(t->m_id));
        lua_setfield(L, -2, "id");
        const QByteArray name = spec.name.toUtf8();
        lua_pushlstring(L, name.constData(), size_t(name.size()));
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, t->m_attempt);
        lua_setfield(L, -2, "attempt");
        lua_createtable(L, 0, int(spec.args.size()));
        for (const auto &[key, value] : spec.args) {
            const QByteArray v = value.toUtf8();
            lua_pushlstring(L, v.constData(), size_t(v.size()));
            lua_setfield(L, -2, key.toUtf8().constData());
        }
        lua_setfield(L, -2, "args");
        lua_setfield(L, 1, "task");

        t->m_host->pushChunk(spec.source, '@' + spec.file.toUtf8()); // 2: main chunk
        lua_pushvalue(L, 1);
        lua_setupvalue(L, 2, 1); // _ENV
        return 1;
    });
    lua_pushlightuserdata(L, this);
    const int status = lua_pcall(L, 1, 1, 0);
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
    m_coroutines.emplace_back();
    m_main = &m_coroutines.back();
    m_main->task = this;
    m_main->id = 1;
    m_main->ref = m_host->takeSpareThread();
    if (m_main->ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, m_main->ref);
        m_main->L = lua_tothread(L, -1);
        lua_pop(L, 1);
    } else {
        m_main->L = lua_newthread(L);
        m_main->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    *static_cast<Coroutine **>(lua_getextraspace(m_main->L)) = m_main;
    lua_xmove(L, m_main->L, 1);
    lua_settop(L, 0);
    m_main->suspended = true;
    resume(m_main);
    return !m_out.finished;
}

void LuaTask::resume(Coroutine *co)
{
    co->suspended = false;
    co->wakeAtNs = -1;
    int nresults = 0;
    m_runningL.store(co->L);
    if (m_cancelLevel.load() > 0)
        lua_sethook(co->L, &LuaTask::hook, LUA_MASKCOUNT, 1); // cancel arrived meanwhile
    const int status = lua_resume(co->L, nullptr, 0, &nresults);
    m_runningL.store(nullptr);
    if (status == LUA_YIELD) {
        lua_pop(co->L, nresults);
        co->suspended = true;
        ++co->serial;
        if (co->wakeAtNs == -1) { // a bare coroutine.yield(): like sleep(0)
            co->wakeAtNs = steadyNowNs();
            co->awaiting = QStringLiteral("yield");
            co->awaitingSinceMs = epochMs();
        }
        m_out.sleeps.push_back(Wake{co, co->serial});
        if (co == m_main)
            m_out.stack = std::make_shared<CoroutineStack>(captureStack(co));
        return;
    }
    co->dead = true;
    if (co != m_main)
        return;
    if (status == LUA_OK) {
        QJsonValue result;
        const int base = lua_gettop(co->L) - nresults + 1;
        if (nresults == 1) {
            result = luaToJson(co->L, base);
        } else if (nresults > 1) {
            QJsonArray values;
            for (int i = 0; i < nresults; ++i)
                values.append(luaToJson(co->L, base + i));
            result = values;
        }
        finish(RunOutcome::Succeeded, {}, result);
        return;
    }
    auto stack = std::make_shared<CoroutineStack>(captureStack(co));
    if (isMarker(co->L, -1, &CancelledKey) || isMarker(co->L, -1, &StoppedKey)) {
        finish(RunOutcome::Cancelled, errorText(co->L, status, -1), {}, stack);
        return;
    }
    finish(RunOutcome::Failed, errorText(co->L, status, -1), {}, stack);
}

QString LuaTask::errorText(lua_State *L, int status, int index) const
{
    if (status == LUA_ERRMEM && m_host && m_host->limitHit()) {
        const qint64 limit = m_spec->memoryBytes > 0 ? m_spec->memoryBytes
                                                     : m_services.defaultMemoryLimit;
        return QStringLiteral("memory limit exceeded (%1 KiB)").arg(limit / 1024);
    }
    if (isMarker(L, index, &CancelledKey))
        return QStringLiteral("cancelled");
    if (isMarker(L, index, &StoppedKey))
        return QStringLiteral("stopped");
    if (isMarker(L, index, &TimeoutKey))
        return QStringLiteral("timeout");
    return luaErrorToString(L, index, m_host->state());
}

CoroutineStack LuaTask::captureStack(Coroutine *co) const
{
    CoroutineStack stack;
    stack.id = co->id;
    if (co->suspended || co->cancelDelivered) {
        stack.awaiting = co->awaiting;
        stack.awaitingSinceMs = co->awaitingSinceMs;
    }
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
        if (!lua_getstack(co->L, level, &ar) || !lua_getinfo(co->L, "Sln", &ar)
            || ar.currentline < 0)
            return; // a C function: `awaiting` says what it waits for
        StackFrame frame;
        frame.file = QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
        frame.line = ar.currentline;
        if (ar.name)
            frame.function = QString::fromUtf8(ar.name);
        else if (qstrcmp(ar.what, "main") == 0)
            frame.function = QStringLiteral("main chunk");
        else
            frame.function = QStringLiteral("function <%1:%2>")
                                 .arg(frame.file.section(u'/', -1))
                                 .arg(ar.linedefined);
        stack.frames.append(frame);
    };
    if (last < Head + Tail) {
        for (int level = 0; level <= last; ++level)
            addFrame(level);
    } else {
        for (int level = 0; level < Head; ++level)
            addFrame(level);
        stack.frames.append(StackFrame{QString(), 0,
                                       QStringLiteral("... (%1 more frames)")
                                           .arg(last + 1 - Head - Tail)});
        for (int level = last + 1 - Tail; level <= last; ++level)
            addFrame(level);
    }
    return stack;
}

void LuaTask::finish(RunOutcome::Kind kind, const QString &error, QJsonValue result,
                     std::shared_ptr<const CoroutineStack> stack)
{
    m_out.finished = true;
    m_out.outcome.kind = kind;
    m_out.outcome.error = error;
    m_out.outcome.result = std::move(result);
    m_out.outcome.stack = std::move(stack);
    if (m_host)
        releaseHost();
}

void LuaTask::releaseHost()
{
    lua_State *L = m_host->state();
    for (Coroutine &co : m_coroutines) {
        // A coroutine that returned normally can run the next task's main chunk.
        if (&co == m_main && co.dead && lua_status(co.L) == LUA_OK
            && lua_resetthread(co.L) == LUA_OK) {
            lua_sethook(co.L, nullptr, 0, 0);
            m_host->keepSpareThread(co.ref);
        }
        else
            luaL_unref(L, LUA_REGISTRYINDEX, co.ref);
    }
    m_coroutines.clear();
    m_main = nullptr;
    *static_cast<Coroutine **>(lua_getextraspace(L)) = nullptr;
    m_pool.release(std::exchange(m_host, nullptr));
}

void LuaTask::flushLive()
{
    m_lastFlushNs = steadyNowNs();
    if (m_out.log.isEmpty() && !m_out.progressSet)
        return;
    QMutexLocker lock(&m_liveMutex);
    if (m_liveLog.size() > MaxUndeliveredLines) {
        // The engine thread is not keeping up: drop the older undelivered lines.
        m_liveDropped += m_liveLog.size();
        m_liveLog.clear();
    }
    m_liveLog.append(std::move(m_out.log));
    m_out.log.clear();
    if (m_out.progressSet) {
        m_liveProgressSet = true;
        m_liveProgress = m_out.progress;
        m_liveStatus = m_out.status;
        m_out.progressSet = false;
    }
    if (!std::exchange(m_livePosted, true)) {
        // Runs before this slice's completion, which this worker posts later.
        QMetaObject::invokeMethod(&m_services.work, [this] { deliverLive(); },
                                  Qt::QueuedConnection);
    }
}

void LuaTask::appendLog(QString line)
{
    if (m_out.log.size() >= MaxLogLinesPerSlice)
        flushLive();
    if (line.size() > MaxLogLineBytes)
        line = line.left(MaxLogLineBytes) + QStringLiteral("… [line cut]");
    m_out.log.append(std::move(line));
}

// ---- the Lua API (worker thread, inside a slice) ----

// Stops CPU-bound code: raises the cancellation once when a cancel is requested, and
// raises "stopped" every time after the grace period, so even code that swallows
// errors with pcall comes to an end.
void LuaTask::hook(lua_State *L, lua_Debug *)
{
    Coroutine *c = context(L);
    if (!c) {
        lua_sethook(L, nullptr, 0, 0);
        return;
    }
    LuaTask *t = c->task;
    if (steadyNowNs() - t->m_lastFlushNs > LookInAfterNs)
        t->flushLive();
    const int level = t->m_cancelLevel.load();
    if (level == 2) {
        // From now on, on every instruction: the first one after a pcall that caught
        // this error raises it again, outside that pcall.
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &StoppedKey);
        lua_error(L);
    }
    lua_sethook(L, nullptr, 0, 0); // back to full speed until the next look-in
    if (level == 1 && !t->m_hookCancelRaised) {
        t->m_hookCancelRaised = true;
        if (c->L == L)
            c->cancelDelivered = true;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
        lua_error(L);
    }
}

int LuaTask::raiseCancel(lua_State *L, Coroutine *co)
{
    co->cancelPending = false;
    co->cancelDelivered = true;
    co->task->m_hookCancelRaised = true;
    lua_rawgetp(L, LUA_REGISTRYINDEX,
                co->task->m_cancelLevel.load() == 2 ? &StoppedKey : &CancelledKey);
    return lua_error(L);
}

int LuaTask::l_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    if (std::isnan(seconds))
        return luaL_argerror(L, 1, "not a number");
    Coroutine *co = context(L);
    if (!co || co->L != L)
        return luaL_error(L, "sleep: cannot wait inside a plain coroutine "
                             "(coroutine.wrap/resume); use spawn");
    if (co->task->m_cancelLevel.load() == 2)
        return raiseCancel(L, co);
    seconds = std::max(0.0, seconds);
    co->awaiting = QStringLiteral("sleep(%1)").arg(formatSeconds(seconds));
    co->awaitingSinceMs = epochMs();
    co->wakeAtNs = seconds > 1e9 ? -2 : steadyNowNs() + qint64(seconds * 1e9);
    return lua_yieldk(L, 0, 0, &LuaTask::sleepDone);
}

int LuaTask::sleepDone(lua_State *L, int, intptr_t)
{
    Coroutine *co = context(L);
    if (co->cancelPending)
        return raiseCancel(L, co);
    co->awaiting.clear();
    return 0;
}

static QString joinArgs(lua_State *L, const char *separator)
{
    const int n = lua_gettop(L);
    QByteArray line;
    for (int i = 1; i <= n; ++i) {
        size_t len = 0;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            line += separator;
        line.append(s, qsizetype(len));
        lua_pop(L, 1);
    }
    return QString::fromUtf8(line);
}

int LuaTask::l_log(lua_State *L)
{
    context(L)->task->appendLog(joinArgs(L, " "));
    return 0;
}

int LuaTask::l_print(lua_State *L)
{
    context(L)->task->appendLog(joinArgs(L, "\t"));
    return 0;
}

int LuaTask::l_progress(lua_State *L)
{
    const double fraction = luaL_checknumber(L, 1);
    if (std::isnan(fraction))
        return luaL_argerror(L, 1, "not a number");
    size_t len = 0;
    const char *message = luaL_optlstring(L, 2, "", &len);
    LuaTask *t = context(L)->task;
    t->m_out.progressSet = true;
    t->m_out.progress = std::clamp(fraction, 0.0, 1.0);
    t->m_out.status = QString::fromUtf8(message, qsizetype(len));
    return 0;
}

int LuaTask::l_isCancelled(lua_State *L)
{
    lua_pushboolean(L, isMarker(L, 1, &CancelledKey) || isMarker(L, 1, &StoppedKey));
    return 1;
}

int LuaTask::l_isTimeout(lua_State *L)
{
    lua_pushboolean(L, isMarker(L, 1, &TimeoutKey));
    return 1;
}

// coroutine.resume and coroutine.wrap as in lcorolib.c, keeping m_runningL on the Lua
// thread that actually runs, so that cancel and the look-ins reach a CPU loop inside a
// plain coroutine too.
int LuaTask::auxresume(lua_State *L, lua_State *co, int narg)
{
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    Coroutine *c = context(L);
    LuaTask *t = c ? c->task : nullptr;
    if (t) {
        t->m_runningL.store(co);
        if (t->m_cancelLevel.load() > 0)
            lua_sethook(co, &LuaTask::hook, LUA_MASKCOUNT, 1);
    }
    int nres = 0;
    const int status = lua_resume(co, L, narg, &nres);
    if (t)
        t->m_runningL.store(L);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

int LuaTask::l_coresume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    const int r = auxresume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

int LuaTask::auxwrap(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    const int r = auxresume(L, co, lua_gettop(L));
    if (r < 0) {
        int status = lua_status(co);
        if (status != LUA_OK && status != LUA_YIELD) {
            status = lua_resetthread(co);
            lua_xmove(co, L, 1);
        }
        if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return r;
}

int LuaTask::l_cowrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, &LuaTask::auxwrap, 1);
    return 1;
}

int LuaTask::l_disabled(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}
