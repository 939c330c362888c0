#include "lib/luaapi_p.h"
#include "luahost.h"
#include "luatask.h"

#include <QDateTime>
#include <QRegularExpression>

#include <algorithm>
#include <functional>

#include <lua.hpp>

// SPEC section 9, seeing inside tasks: coroutine names, tail-call frames and errors nobody
// retrieved. Nothing here runs at spawn time: a name is looked for when a stack first
// shows its coroutine, on the thread that may read the task's Lua state then.

namespace {

constexpr int MaxLostErrors = 1000;
constexpr int MaxFramesSearched = 200;
constexpr int MaxGlobalsSearched = 10000;

bool isFunction(lua_State *L, int index, const void *fn)
{
    return lua_type(L, index) == LUA_TFUNCTION && lua_topointer(L, index) == fn;
}

// A name a script wrote, not one Lua makes up for temporaries ("(temporary)", "(for
// state)") or C upvalues ("").
bool isScriptName(const char *name)
{
    return name && name[0] != '\0' && name[0] != '(';
}

// The local or upvalue, in the frames of `L` (innermost first), that holds `fn`; the
// toolkit's own frames are skipped (wait_for's `target` is no one's name).
QString nameInFrames(lua_State *L, const void *fn)
{
    if (!lua_checkstack(L, 3))
        return {};
    lua_Debug ar;
    for (int level = 0; level < MaxFramesSearched && lua_getstack(L, level, &ar); ++level) {
        if (!lua_getinfo(L, "Sf", &ar))
            continue;
        if (qstrcmp(ar.source, "=taskdeck") == 0) {
            lua_pop(L, 1);
            continue;
        }
        for (int i = 1;; ++i) {
            const char *name = lua_getupvalue(L, -1, i);
            if (!name)
                break;
            const bool match = isFunction(L, -1, fn);
            lua_pop(L, 1);
            if (match && isScriptName(name)) {
                lua_pop(L, 1);
                return QString::fromUtf8(name);
            }
        }
        lua_pop(L, 1);
        for (int i = 1;; ++i) {
            const char *name = lua_getlocal(L, &ar, i);
            if (!name)
                break;
            const bool match = isFunction(L, -1, fn);
            lua_pop(L, 1);
            if (match && isScriptName(name))
                return QString::fromUtf8(name);
        }
    }
    return {};
}

// The string key of the table on top of `L` whose value is `fn`.
QString nameInTable(lua_State *L, const void *fn)
{
    int seen = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (isFunction(L, -1, fn) && lua_type(L, -2) == LUA_TSTRING) {
            QString name = QString::fromUtf8(lua_tostring(L, -2));
            lua_pop(L, 2);
            return name;
        }
        lua_pop(L, 1);
        if (++seen > MaxGlobalsSearched) {
            lua_pop(L, 1);
            return {};
        }
    }
    return {};
}

// The name at a function's definition, `local function fetch_page(`, `function M.get(`,
// `fetch = function(`, read from the line it starts on.
QString nameAtDefinition(const QByteArray &source, int line)
{
    if (line <= 0)
        return {};
    qsizetype from = 0;
    for (int n = 1; n < line && from >= 0; ++n) {
        from = source.indexOf('\n', from);
        if (from >= 0)
            ++from;
    }
    if (from < 0)
        return {};
    const qsizetype to = source.indexOf('\n', from);
    const QString text = QString::fromUtf8(source.mid(from, to < 0 ? -1 : to - from));
    static const QRegularExpression declared(
        QStringLiteral("function\\s+([A-Za-z_][\\w.:]*)\\s*\\("));
    static const QRegularExpression assigned(
        QStringLiteral("([A-Za-z_][\\w.]*)\\s*=\\s*function\\s*\\("));
    if (const auto m = declared.match(text); m.hasMatch())
        return m.captured(1);
    if (const auto m = assigned.match(text); m.hasMatch())
        return m.captured(1);
    return {};
}

} // namespace

QString LuaTask::coroutineName(const Coroutine *co) const
{
    if (co == m_main)
        return QStringLiteral("main");
    if (auto it = m_names.find(co->id); it != m_names.end())
        return it->second;
    QString name = resolveName(co);
    m_names.emplace(co->id, name);
    return name;
}

// Pushes onto `L` the function `co` was started with (its handle's user value entrySlot,
// set by spawn); false when there is none (nil pushed).
bool LuaTask::pushEntryFunction(lua_State *L, const Coroutine *co) const
{
    if (co->ref <= 0) {
        lua_pushnil(L);
        return false;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, co->ref);
    if (lua_type(L, -1) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return false;
    }
    lua_getiuservalue(L, -1, LuaApi::entrySlot(co));
    lua_remove(L, -2);
    return lua_type(L, -1) == LUA_TFUNCTION;
}

// SPEC section 9: named as the code names it at the spawn call. The function spawn()
// started is kept with its handle; its name is looked for among the locals and upvalues
// of the spawning coroutine's frames (still there while it waits for its children), then
// the task's globals and the engine's, then the line that defines it; failing all,
// `function <file:line>` as Lua says it.
QString LuaTask::resolveName(const Coroutine *co) const
{
    if (!m_host)
        return QStringLiteral("coroutine");
    lua_State *L = m_host->state();
    if (!lua_checkstack(L, 6))
        return QStringLiteral("coroutine");
    const int top = lua_gettop(L);
    if (!pushEntryFunction(L, co)) {
        lua_settop(L, top);
        return QStringLiteral("coroutine");
    }
    const void *fn = lua_topointer(L, -1);
    QString name;
    for (const Coroutine *p = co->parent; p && name.isEmpty(); p = p->parent)
        if (p->L && !p->dead && p->suspended)
            name = nameInFrames(p->L, fn);
    if (name.isEmpty() && LuaHost::pushCurrentEnv(L)) {
        name = nameInTable(L, fn);
        lua_pop(L, 1);
    }
    if (name.isEmpty()) {
        lua_pushglobaltable(L);
        name = nameInTable(L, fn);
        lua_pop(L, 1);
    }
    if (name.isEmpty()) {
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">S", &ar);
        const QString file = QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
        if (file == m_spec->file)
            name = nameAtDefinition(m_spec->source, ar.linedefined);
        if (name.isEmpty())
            name = ar.linedefined <= 0 ? QStringLiteral("function")
                                       : QStringLiteral("function <%1:%2>")
                                             .arg(file.section(u'/', -1))
                                             .arg(ar.linedefined);
    }
    lua_settop(L, top);
    return name;
}

// The frame of the function a coroutine started with, when a tail call has replaced it.
StackFrame LuaTask::entryFrame(const Coroutine *co) const
{
    StackFrame frame{QString(), 0, coroutineName(co) + QStringLiteral(" (tail call)")};
    if (co == m_main)
        frame.function = QStringLiteral("main chunk (tail call)");
    if (!m_host)
        return frame;
    lua_State *L = m_host->state();
    if (!lua_checkstack(L, 3))
        return frame;
    const int top = lua_gettop(L);
    if (pushEntryFunction(L, co)) {
        lua_Debug ar;
        lua_getinfo(L, ">S", &ar);
        if (qstrcmp(ar.what, "C") != 0) {
            frame.file = QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
            frame.line = ar.linedefined;
        }
    }
    lua_settop(L, top);
    return frame;
}

StackFrame LuaTask::tailCallFrame()
{
    return StackFrame{QString(), 0, QStringLiteral("(tail call: the caller is not known)")};
}

// A child failed (not by a cancellation): kept, with its name and stack, until someone
// retrieves its error (h:wait, gather...) or the task ends.
void LuaTask::noteLostError(Coroutine *co, int status)
{
    if (int(m_lostErrors.size()) >= MaxLostErrors) {
        ++m_lostErrorsDropped;
        return;
    }
    LostError lost{co->id, coroutineName(co), errorText(co->L, status, -1), {}};
    lost.frames = captureStack(co).frames;
    m_lostErrors.push_back(std::move(lost));
}

void LuaTask::retrieved(const Coroutine *co)
{
    for (auto it = m_lostErrors.begin(); it != m_lostErrors.end(); ++it) {
        if (it->id == co->id) {
            m_lostErrors.erase(it);
            return;
        }
    }
}

// SPEC section 9: `error in <name> #N was never retrieved: <error>`, with its stack.
void LuaTask::logLostErrors()
{
    for (const LostError &lost : m_lostErrors) {
        appendLog(QStringLiteral("error in %1 #%2 was never retrieved: %3")
                      .arg(lost.name)
                      .arg(lost.id)
                      .arg(lost.error.section(u'\n', 0, 0)));
        for (const StackFrame &f : lost.frames)
            appendLog(f.line > 0 ? QStringLiteral("    at %1:%2 in %3")
                                       .arg(f.file.section(u'/', -1))
                                       .arg(f.line)
                                       .arg(f.function)
                                 : QStringLiteral("    %1").arg(f.function));
    }
    if (m_lostErrorsDropped > 0)
        appendLog(QStringLiteral("… and %1 more errors never retrieved").arg(m_lostErrorsDropped));
    m_lostErrors.clear();
    m_lostErrorsDropped = 0;
}

namespace {

QString seconds(qint64 ms)
{
    return QStringLiteral("%1 s").arg(double(qMax<qint64>(0, ms)) / 1000.0, 0, 'f', 1);
}

// "fetch_page #4, worker #5 and 3 more"
QString labels(const SyncRegistry &registry, const QList<int> &ids)
{
    QStringList shown;
    for (int i = 0; i < ids.size() && i < 3; ++i)
        shown << (ids[i] == 0 ? QStringLiteral("a plain coroutine")
                              : registry.coroutineLabel(ids[i]));
    QString text = shown.join(QStringLiteral(", "));
    if (ids.size() > 3)
        text += QStringLiteral(" and %1 more").arg(ids.size() - 3);
    return text;
}

} // namespace

// What `co` awaits, as stacks show it: "sleep(5)", "child fetch_page #3", "gather (2
// pending)", and for a sync object who holds it or how full it is (SPEC section 9):
// "Lock:acquire — held by fetch_page #4 for 2.1 s".
QString LuaTask::awaitingText(const Coroutine *co) const
{
    if (co->io)
        return co->io->what;
    const QString kind = QString::fromUtf8(co->awaitKind);
    if (kind == u"sleep")
        return QStringLiteral("sleep(%1)").arg(co->awaitArg, 0, 'g', 6);
    if (kind == u"wait") {
        const int id = int(co->awaitArg);
        const Coroutine *child = liveCoroutine(id);
        const QString name = child ? coroutineName(child) : QString();
        if (name.isEmpty() || name.startsWith(u"function"))
            return QStringLiteral("child #%1").arg(id);
        return QStringLiteral("child %1 #%2").arg(name).arg(id);
    }
    if (co->awaitArg > 0)
        return QStringLiteral("%1 (%2 pending)").arg(kind).arg(qint64(co->awaitArg));
    const SyncResource *r = m_stackRegistry ? m_stackRegistry->waitedOnBy(co->id) : nullptr;
    if (!r)
        return kind;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QString detail;
    switch (r->kind) {
    case SyncResource::Kind::Lock:
        detail = r->holders.isEmpty() ? QStringLiteral("being handed over")
                                      : QStringLiteral("held by %1 for %2")
                                            .arg(labels(*m_stackRegistry, r->holders),
                                                 seconds(now - r->heldSinceMs));
        break;
    case SyncResource::Kind::Semaphore:
        detail = r->holders.isEmpty() ? r->state
                                      : QStringLiteral("held by %1 (%2)")
                                            .arg(labels(*m_stackRegistry, r->holders), r->state);
        if (!r->holders.isEmpty() && r->holders.size() < r->taken)
            detail = QStringLiteral("held by %1 and %2 taken before its first wait (%3)")
                         .arg(labels(*m_stackRegistry, r->holders))
                         .arg(r->taken - r->holders.size())
                         .arg(r->state);
        break;
    case SyncResource::Kind::Queue:
        detail = QStringLiteral("%1; waiting: %2 to get, %3 to put")
                     .arg(r->state)
                     .arg(r->getters.size())
                     .arg(r->putters.size());
        break;
    case SyncResource::Kind::Event:
        detail = QStringLiteral("%1, waited %2").arg(r->state, seconds(now - co->awaitingSinceMs));
        break;
    }
    return QStringLiteral("%1 — %2").arg(kind, detail);
}

// ---- deadlocks (SPEC section 9) ----

namespace {

// One coroutine of a stuck task and what it waits for: other coroutines (a Lock's or a
// Semaphore's holders, the children it waits on) or, with none, what no one left can do.
struct WaitEdge
{
    QList<int> targets;
    QString what; // "Lock held by %1", "%1", or a whole phrase when targets is empty
};

} // namespace

// Run in a slice that nothing could wake (see watchForDeadlock): every coroutine waits,
// and no timer, I/O or child process is left to wake one. Fails the task with the cycle,
// or with `@deadlock warn` logs it and marks the stack.
bool LuaTask::checkDeadlock()
{
    if (m_finished || m_out.finished)
        return false;
    const QString text = describeDeadlock();
    if (text.isEmpty())
        return false;
    m_deadlock = QStringLiteral("deadlock: ") + text;
    if (m_spec->deadlockWarn) {
        appendLog(QStringLiteral("[taskdeck: %1]").arg(m_deadlock));
        return false;
    }
    auto stack = std::make_shared<CoroutineStack>(captureTree(m_main));
    finish(RunOutcome::Failed, m_deadlock, {}, stack);
    return true;
}

QString LuaTask::describeDeadlock() const
{
    std::vector<const Coroutine *> live;
    if (m_main && !m_main->dead)
        live.push_back(m_main);
    for (const auto &[id, co] : m_live)
        live.push_back(co);
    if (live.empty())
        return {};
    std::sort(live.begin(), live.end(),
              [](const Coroutine *a, const Coroutine *b) { return a->id < b->id; });
    const std::shared_ptr<SyncRegistry> registry = syncRegistry();
    auto label = [&](int id) {
        const Coroutine *co = liveCoroutine(id);
        if (co)
            return QStringLiteral("%1 #%2").arg(coroutineName(co)).arg(id);
        return registry->coroutineLabel(id);
    };
    std::unordered_map<int, WaitEdge> edges;
    for (const Coroutine *co : live) {
        if (!co->suspended || co->io || co->wakeAtNs >= 0)
            return {}; // something can still wake it: no deadlock
        WaitEdge edge;
        const QString kind = QString::fromUtf8(co->awaitKind);
        if (co->group) {
            for (const Coroutine *other : live)
                for (const auto &group : other->waiters)
                    if (group == co->group && !edge.targets.contains(other->id))
                        edge.targets.append(other->id);
            edge.what =
                kind == u"wait" ? QStringLiteral("%1") : QStringLiteral("%1 (") + kind + u')';
        } else if (const SyncResource *r = registry->waitedOnBy(co->id)) {
            const QString site =
                r->site.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(r->site);
            switch (r->kind) {
            case SyncResource::Kind::Lock:
            case SyncResource::Kind::Semaphore:
                for (int id : r->holders)
                    if (liveCoroutine(id))
                        edge.targets.append(id);
                if (!edge.targets.isEmpty())
                    edge.what = r->name() + QStringLiteral(" held by %1");
                else if (!r->holders.isEmpty())
                    edge.what = QStringLiteral("%1%2 held by %3, which has ended")
                                    .arg(r->name(), site, labels(*registry, r->holders));
                else
                    edge.what = QStringLiteral("%1%2 that no live coroutine can release")
                                    .arg(r->name(), site);
                break;
            case SyncResource::Kind::Queue:
                if (r->getters.contains(co->id))
                    edge.what = QStringLiteral("Queue:get on an empty Queue%1 that no live "
                                               "coroutine can put to")
                                    .arg(site);
                else if (r->putters.contains(co->id))
                    edge.what = QStringLiteral("Queue:put on a full Queue%1 that no live "
                                               "coroutine can get from")
                                    .arg(site);
                else
                    edge.what =
                        QStringLiteral("Queue:join%1 that no live coroutine can finish").arg(site);
                break;
            case SyncResource::Kind::Event:
                edge.what = QStringLiteral("Event%1 that no live coroutine can set").arg(site);
                break;
            }
        } else {
            edge.what = kind.isEmpty() ? QStringLiteral("something no live coroutine can give")
                                       : kind + QStringLiteral(", which nothing can end");
        }
        edges.emplace(co->id, std::move(edge));
    }
    // The cycle, if there is one (from its lowest id), else the chain from the first
    // coroutine to what no one can do.
    auto step = [&](int from, int to) {
        const WaitEdge &e = edges[from];
        return e.what.contains(u"%1") ? QString(e.what).replace(QStringLiteral("%1"), label(to))
                                      : e.what;
    };
    auto chainText = [&](const std::vector<int> &path, int last) {
        QString text;
        for (size_t i = 0; i < path.size(); ++i) {
            const int to = i + 1 < path.size() ? path[i + 1] : last;
            text += i == 0
                        ? QStringLiteral("%1 waits for %2").arg(label(path[i]), step(path[i], to))
                        : QStringLiteral(", which waits for %1").arg(step(path[i], to));
        }
        return text;
    };
    // Depth-first from each coroutine in id order, along every edge.
    std::unordered_map<int, int> colour; // 1: on the path, 2: done
    std::vector<int> path;
    std::function<std::vector<int>(int)> visit = [&](int id) -> std::vector<int> {
        colour[id] = 1;
        path.push_back(id);
        for (int to : edges[id].targets) {
            if (colour[to] == 1) {
                auto start = std::find(path.begin(), path.end(), to);
                return std::vector<int>(start, path.end());
            }
            if (colour[to] == 0 && edges.count(to))
                if (auto cycle = visit(to); !cycle.empty())
                    return cycle;
        }
        path.pop_back();
        colour[id] = 2;
        return {};
    };
    for (const Coroutine *co : live) {
        if (colour[co->id] != 0)
            continue;
        path.clear();
        if (std::vector<int> cycle = visit(co->id); !cycle.empty()) {
            std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
            return chainText(cycle, cycle.front());
        }
    }
    std::vector<int> chain{live.front()->id};
    while (!edges[chain.back()].targets.isEmpty() && chain.size() < 64)
        chain.push_back(edges[chain.back()].targets.front());
    return chainText(chain, 0);
}

// ---- identical siblings (SPEC section 9) ----

namespace {

// What makes two sibling nodes the same to a reader: name, what they await (without the
// details that differ per coroutine), frames and the shapes under them; never the id.
QString shapeKey(const StackNode &node)
{
    QString key = node.name;
    key += u'\x1f';
    key += node.awaiting.section(QStringLiteral(" — "), 0, 0);
    for (const StackFrame &f : node.frames) {
        key += u'\x1e';
        key += f.file;
        key += u':';
        key += QString::number(f.line);
        key += u' ';
        key += f.function;
    }
    for (const StackNode &child : node.children) {
        key += QStringLiteral("\x1d%1\x1c").arg(child.count);
        key += shapeKey(child);
    }
    key += u'\x1b';
    return key;
}

} // namespace

// Merges identical siblings into the first of them, with their count and ids (Visual
// Studio's Parallel Stacks: "50 × fetch_page, awaiting sleep(1)"); the order of first
// appearance is kept, the earliest wait is the group's.
void LuaTask::mergeIdenticalSiblings(QList<StackNode> &nodes)
{
    if (nodes.size() < 2)
        return;
    QHash<QString, qsizetype> groups;
    QList<StackNode> merged;
    for (StackNode &node : nodes) {
        const QString key = shapeKey(node);
        const auto it = groups.constFind(key);
        if (it == groups.cend()) {
            groups.insert(key, merged.size());
            merged.append(std::move(node));
            continue;
        }
        StackNode &group = merged[*it];
        if (group.mergedIds.isEmpty())
            group.mergedIds.append(group.id);
        if (node.mergedIds.isEmpty())
            group.mergedIds.append(node.id);
        else
            group.mergedIds.append(node.mergedIds);
        group.count += node.count;
        if (node.awaitingSinceMs >= 0 &&
            (group.awaitingSinceMs < 0 || node.awaitingSinceMs < group.awaitingSinceMs))
            group.awaitingSinceMs = node.awaitingSinceMs;
    }
    nodes = std::move(merged);
}
