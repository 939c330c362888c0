#pragma once

#include <QHash>
#include <QList>
#include <QString>

// The synchronisation objects of one Lua task (SPEC section 9, "Who holds it" and
// "Resources"): every Lock, Semaphore, Queue and Event the task created and still
// reaches, as they stood when its stack was read. A value type, made by the task's
// runner (LuaTask::syncRegistry) whenever it builds a stack; the root node of a live or
// final stack carries it (StackNode::resources), so views read it from there on any
// thread.
struct SyncResource
{
    enum class Kind : quint8 { Lock, Semaphore, Queue, Event };
    Kind kind = Kind::Lock;
    QString site;       // where it was created: "crawler.lua:12"
    QString state;      // "locked", "unlocked", "0 of 4 free", "3 items (max 10)", "set", "clear"
    QList<int> holders; // coroutine ids holding it (a Lock or Semaphore); 0: not a spawn
    qint64 heldSinceMs = -1; // a Lock: epoch ms since its holder has it
    // Units taken (a Lock: 0 or 1). A Semaphore(n > 8) knows its holders only from its
    // first wait on (no cost per acquire before): `holders` may name fewer.
    int taken = 0;
    QList<int> waiters; // coroutine ids waiting on it, in turn order (a Queue: all sides)
    // A Queue: the items in it, its maxsize (0: unbounded), who waits on each side
    int size = 0;
    int maxSize = 0;
    QList<int> getters;
    QList<int> putters;
    QList<int> joiners;

    // "Lock", "Semaphore", "Queue", "Event"
    static QString kindName(Kind kind);
    QString name() const { return kindName(kind); }
};

struct SyncRegistry
{
    QList<SyncResource> resources; // in creation order
    // Names of the coroutines the resources mention (SPEC section 9 names), by id.
    QHash<int, QString> coroutineNames;

    // "fetch_page #4" (or "#4" for an id with no name known).
    QString coroutineLabel(int id) const;
    // The resource the coroutine `id` waits on, or nullptr.
    const SyncResource *waitedOnBy(int id) const;
};
