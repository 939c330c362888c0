#pragma once

#include <QByteArray>
#include <QMutex>

#include <utility>

#include <cstddef>
#include <vector>

struct lua_State;

// One Lua state with the task API installed, lent to one task at a time. A task's
// coroutines all live in its host; the host moves between worker threads with the task
// but is never used by two threads at once. Its allocator counts the heap so that a
// task's @memory cap (or the engine's default cap) applies to that task alone.
class LuaHost
{
public:
    LuaHost();
    ~LuaHost();
    LuaHost(const LuaHost &) = delete;
    LuaHost &operator=(const LuaHost &) = delete;

    lua_State *state() const { return m_state; }
    // The host owning `L` (any thread of its state).
    static LuaHost *of(lua_State *L);
    size_t used() const { return m_used; }
    // Caps the heap at `bytes` above what the host uses now (its libraries).
    void setTaskLimit(size_t bytes);
    void clearLimit();
    bool limitHit() const { return m_limitHit; }
    // After a task: drops its garbage; false when the host is too big to keep.
    bool recycle();

    // Pushes the compiled main chunk of `source` (compiling it on first use; a syntax
    // error is raised as a Lua error). Tasks of one script share it, one at a time, so
    // a host compiles each script once; the caller sets its _ENV upvalue.
    void pushChunk(const QByteArray &source, const QString &file);
    // A finished coroutine kept for the next task (LUA_NOREF when none).
    int takeSpareThread() { return std::exchange(m_spareThread, -2); }
    void keepSpareThread(int ref);

    // Pushes a fresh global table for the next task and makes it the current one: its
    // standard library tables are copied into it on first use (see lib/sandbox.cpp), so what a
    // task changes is never seen by the tasks after it.
    void pushTaskEnv();
    // Pushes the current task's global table; false (nothing pushed) between tasks.
    static bool pushCurrentEnv(lua_State *L);
    // The task changed io's default files, which the next one must not meet: recycle()
    // then resets them and collects what the task left.
    void markDirty() { m_dirty = true; }
    // The registry key (its address) of the metatable of a task's globals, which the
    // task API sets.
    static void *envMetaKey();

private:
    static void *allocate(void *ud, void *ptr, size_t osize, size_t nsize);

    lua_State *m_state = nullptr;
    size_t m_used = 0;
    size_t m_limit = size_t(-1);
    size_t m_baseline = 0;
    bool m_limitHit = false;
    bool m_dirty = false;
    struct Chunk
    {
        QByteArray source; // keeps the data, and so its address, alive
        int ref;
    };
    std::vector<Chunk> m_chunks;
    int m_spareThread = -2; // LUA_NOREF
};

// Idle hosts, shared by the workers (thread-safe). A fresh state costs ~40 us, so hosts
// are reused between tasks.
class LuaHostPool
{
public:
    explicit LuaHostPool(int maxIdle = 64)
        : m_maxIdle(maxIdle)
    {
    }
    ~LuaHostPool();
    LuaHost *acquire();
    void release(LuaHost *host); // deletes it when it cannot be reused

private:
    QMutex m_mutex;
    std::vector<LuaHost *> m_idle;
    int m_maxIdle;
};
