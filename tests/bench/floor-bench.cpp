// taskdeck-floor-bench [PART...]
// The floor under each SPEC section 6 scenario (issue 15): what bare Lua, the kernel and Qt
// do at best on this machine for the same work, with none of Taskdeck around it. One JSON
// line per part, in the shape of taskdeck-bench's: {"floor", "n", "wall_s", ...}.
// Parts: lua-spawn-trivial, lua-calls, lua-yields, lua-spawn-sleepers, lua-chunks, handoff,
// pool, spawn-procs, qt-start. Without arguments, all of them.
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMutex>
#include <QThread>
#include <QThreadPool>
#include <QWaitCondition>

#include <lua.hpp>

#include <cstdio>
#include <cstdlib>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace {

void print(const char *floor, int n, double wall, QJsonObject more = {})
{
    more.insert(QStringLiteral("floor"), QString::fromLatin1(floor));
    more.insert(QStringLiteral("n"), n);
    more.insert(QStringLiteral("wall_s"), wall);
    more.insert(QStringLiteral("per_item_us"), wall * 1e6 / n);
    std::puts(QJsonDocument(more).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

double seconds(const QElapsedTimer &clock)
{
    return clock.nsecsElapsed() / 1e9;
}

lua_State *newState()
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

void runLua(lua_State *L, const char *source)
{
    if (luaL_dostring(L, source) != LUA_OK)
        qFatal("%s", lua_tostring(L, -1));
}

// spawn-trivial in bare Lua: 100,000 coroutines that take and give back a unit of a
// table-based semaphore and return their argument, each created, run to its end and its
// result gathered into a table; then a full collection. No scheduler: the loop resumes
// each one in turn (none ever waits, as none does in the scenario).
void luaSpawnTrivial()
{
    lua_State *L = newState();
    QElapsedTimer clock;
    clock.start();
    runLua(L, "local sem = {value = 64}\n"
              "local function acquire(s) if s.value > 0 then s.value = s.value - 1 end end\n"
              "local function release(s) s.value = s.value + 1 end\n"
              "local function job(i) acquire(sem) release(sem) return i end\n"
              "local create, resume = coroutine.create, coroutine.resume\n"
              "local cos, r = {}, {}\n"
              "for i = 1, 100000 do cos[i] = create(job) end\n"
              "for i = 1, 100000 do local _, v = resume(cos[i], i) r[i] = v end\n"
              "assert(#r == 100000)\n"
              "cos = nil collectgarbage()\n");
    print("lua-spawn-trivial", 100000, seconds(clock));
    lua_close(L);
}

// The same work with no coroutine at all: job(i) called 100,000 times and its results
// gathered, the least any scheduler of it can cost.
void luaCalls()
{
    lua_State *L = newState();
    QElapsedTimer clock;
    clock.start();
    runLua(L, "local sem = {value = 64}\n"
              "local function acquire(s) if s.value > 0 then s.value = s.value - 1 end end\n"
              "local function release(s) s.value = s.value + 1 end\n"
              "local function job(i) acquire(sem) release(sem) return i end\n"
              "local r = {}\n"
              "for i = 1, 100000 do r[i] = job(i) end\n"
              "assert(#r == 100000)\n"
              "r = nil collectgarbage()\n");
    print("lua-calls", 100000, seconds(clock));
    lua_close(L);
}

// One coroutine yielding and resumed 100,000 times: what a wait costs in this Lua (the
// C++ build Debian ships unwinds a yield as a C++ exception).
void luaYields()
{
    lua_State *L = newState();
    QElapsedTimer clock;
    clock.start();
    runLua(L, "local co = coroutine.wrap(function() while true do coroutine.yield() end end)\n"
              "for i = 1, 100000 do co() end\n");
    print("lua-yields", 100000, seconds(clock));
    lua_close(L);
}

// spawn-sleepers in bare Lua, without the second of sleep: 100,000 coroutines created and
// run to a yield, the heap measured, then each resumed to its end and all collected.
void luaSpawnSleepers()
{
    lua_State *L = newState();
    lua_gc(L, LUA_GCCOLLECT);
    const int before = lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB);
    QElapsedTimer clock;
    clock.start();
    runLua(L, "local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield\n"
              "local function job(s) yield(s) end\n"
              "cos = {}\n"
              "for i = 1, 100000 do local co = create(job) resume(co, 1) cos[i] = co end\n");
    const double created = seconds(clock);
    const int after = lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB);
    runLua(L, "local resume = coroutine.resume\n"
              "for i = 1, 100000 do resume(cos[i]) end\n"
              "cos = nil collectgarbage()\n");
    print("lua-spawn-sleepers", 100000, seconds(clock),
          QJsonObject{{QStringLiteral("create_s"), created},
                      {QStringLiteral("heap_bytes_per_coroutine"), (after - before) / 100000.0}});
    lua_close(L);
}

// queue-trivial's Lua part: the compiled chunk `return 1` called 100,000 times in one
// state, each in a fresh global table (as a task gets).
void luaChunks()
{
    lua_State *L = newState();
    if (luaL_loadstring(L, "return 1") != LUA_OK)
        qFatal("load");
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < 100000; ++i) {
        lua_pushvalue(L, 1);
        lua_newtable(L);
        lua_setupvalue(L, -2, 1);
        lua_call(L, 0, 1);
        lua_pop(L, 1);
    }
    lua_gc(L, LUA_GCCOLLECT);
    print("lua-chunks", 100000, seconds(clock));
    lua_close(L);
}

// A round trip between two threads through a mutex and a wait condition, 100,000 times:
// the least one hand-off to a worker and back costs.
void handOff()
{
    constexpr int N = 100000;
    QMutex mutex;
    QWaitCondition toWorker, toMain;
    int turn = 0; // even: the worker's turn, odd: main's
    QThread *worker = QThread::create([&] {
        QMutexLocker lock(&mutex);
        for (int i = 0; i < N; ++i) {
            while (turn % 2 != 0)
                toWorker.wait(&mutex);
            ++turn;
            toMain.wakeOne();
        }
    });
    QElapsedTimer clock;
    clock.start();
    worker->start();
    {
        QMutexLocker lock(&mutex);
        for (int i = 0; i < N; ++i) {
            while (turn % 2 == 0)
                toMain.wait(&mutex);
            ++turn;
            toWorker.wakeOne();
        }
    }
    worker->wait();
    print("handoff-roundtrip", N, seconds(clock));
    delete worker;
}

// QThreadPool::start of 100,000 no-op lambdas, then waitForDone (FACTS.md's figure).
void pool()
{
    QThreadPool threads;
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < 100000; ++i)
        threads.start([] {});
    threads.waitForDone();
    print("pool-start", 100000, seconds(clock));
}

// procs: 500 `/bin/true` at most 8 at once, posix_spawn (vfork) and waitpid.
void spawnProcs()
{
    constexpr int N = 500;
    char arg0[] = "/bin/true";
    char *argv[] = {arg0, nullptr};
    QElapsedTimer clock;
    clock.start();
    int started = 0, running = 0;
    while (started < N || running > 0) {
        while (started < N && running < 8) {
            pid_t pid = 0;
            if (posix_spawn(&pid, arg0, nullptr, nullptr, argv, environ) != 0)
                qFatal("posix_spawn");
            ++started;
            ++running;
        }
        int status = 0;
        if (::wait(&status) > 0)
            --running;
    }
    print("spawn-procs", N, seconds(clock));
}

// A process start as `taskdeck run` makes one: this executable started again with only a
// QCoreApplication to build (`qt-child`), 20 times, wall time each (exec to exit).
void qtStart(const char *self)
{
    constexpr int N = 20;
    char part[] = "qt-child";
    char *argv[] = {const_cast<char *>(self), part, nullptr};
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < N; ++i) {
        pid_t pid = 0;
        if (posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0)
            qFatal("posix_spawn");
        int status = 0;
        ::waitpid(pid, &status, 0);
    }
    print("qt-start", N, seconds(clock));
}

} // namespace

int main(int argc, char *argv[])
{
    if (argc == 2 && qstrcmp(argv[1], "qt-child") == 0) {
        QCoreApplication app(argc, argv); // built and torn down: nothing else
        return 0;
    }
    QCoreApplication app(argc, argv);
    QStringList parts = app.arguments().mid(1);
    if (parts.isEmpty())
        parts = {QStringLiteral("lua-spawn-trivial"),
                 QStringLiteral("lua-calls"),
                 QStringLiteral("lua-yields"),
                 QStringLiteral("lua-spawn-sleepers"),
                 QStringLiteral("lua-chunks"),
                 QStringLiteral("handoff"),
                 QStringLiteral("pool"),
                 QStringLiteral("spawn-procs"),
                 QStringLiteral("qt-start")};
    for (const QString &part : parts) {
        if (part == u"lua-spawn-trivial")
            luaSpawnTrivial();
        else if (part == u"lua-calls")
            luaCalls();
        else if (part == u"lua-yields")
            luaYields();
        else if (part == u"lua-spawn-sleepers")
            luaSpawnSleepers();
        else if (part == u"lua-chunks")
            luaChunks();
        else if (part == u"handoff")
            handOff();
        else if (part == u"pool")
            pool();
        else if (part == u"spawn-procs")
            spawnProcs();
        else if (part == u"qt-start")
            qtStart(argv[0]);
        else {
            std::fprintf(stderr, "taskdeck-floor-bench: unknown part %s\n", qPrintable(part));
            return 2;
        }
    }
    return 0;
}
