#include "clusterprotocol.h"

#include "taskjson.h"

#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <map>

namespace {

// A script as Redis runs it: common.lua (the shared helpers and key layout) then the
// script's own text, read once from the resources.
const RedisScript &script(const char *name)
{
    static std::map<QByteArray, RedisScript> scripts; // freed at exit, never moved
    static const QByteArray common = [] {
        QFile file(QStringLiteral(":/cluster/scripts/common.lua"));
        file.open(QIODevice::ReadOnly);
        return file.readAll();
    }();
    auto it = scripts.find(name);
    if (it == scripts.end()) {
        QFile file(QStringLiteral(":/cluster/scripts/%1.lua").arg(QLatin1String(name)));
        file.open(QIODevice::ReadOnly);
        it = scripts.emplace(QByteArray(name), RedisScript(common + "\n" + file.readAll())).first;
    }
    return it->second;
}

QByteArray number(qint64 value)
{
    return QByteArray::number(value);
}

QList<TaskId> idsOf(const RedisReply &reply)
{
    QList<TaskId> ids;
    for (const RedisReply &e : reply.elements)
        ids.append(e.type == RedisReply::Type::Integer ? TaskId(e.integer)
                                                       : e.string.toULongLong());
    return ids;
}

TaskState stateNamed(const QByteArray &name)
{
    static const QHash<QByteArray, TaskState> states{
        {"pending", TaskState::Pending},         {"running", TaskState::Running},
        {"succeeded", TaskState::Succeeded},     {"failed", TaskState::Failed},
        {"timed_out", TaskState::TimedOut},      {"cancelled", TaskState::Cancelled},
        {"interrupted", TaskState::Interrupted},
    };
    return states.value(name, TaskState::Pending);
}

CoroutineStack stackFrom(const QJsonObject &object)
{
    CoroutineStack stack;
    for (const QJsonValue &f : object.value(QStringLiteral("frames")).toArray()) {
        const QJsonObject frame = f.toObject();
        stack.frames.append(StackFrame{frame.value(QStringLiteral("file")).toString(),
                                       frame.value(QStringLiteral("line")).toInt(),
                                       frame.value(QStringLiteral("function")).toString()});
    }
    stack.awaiting = object.value(QStringLiteral("awaiting")).toString();
    for (const QJsonValue &child : object.value(QStringLiteral("children")).toArray())
        stack.children.append(stackFrom(child.toObject()));
    return stack;
}

qint64 msOrNone(const QByteArray &text)
{
    return text.isEmpty() ? -1 : text.toLongLong();
}

} // namespace

ClusterProtocol::ClusterProtocol(RedisClient *client, const QString &ns)
    : m_client(client)
    , m_prefix(ns.toUtf8() + ':')
{
}

void ClusterProtocol::run(const RedisScript &s, const QList<QByteArray> &args,
                          std::function<void(const RedisReply &, const QString &)> done)
{
    m_client->eval(s, {m_prefix}, args, [done = std::move(done)](const RedisReply &reply) {
        if (reply.isError())
            done(reply, QString::fromUtf8(reply.string));
        else
            done(reply, QString());
    });
}

QByteArray ClusterProtocol::encodeSpec(const TaskSpec &spec)
{
    QJsonArray args;
    for (const auto &[key, value] : spec.args)
        args.append(QJsonArray{key, value});
    const QJsonObject object{
        {QStringLiteral("file"), spec.file},
        {QStringLiteral("kind"),
         spec.kind == ScriptKind::Lua ? QStringLiteral("lua") : QStringLiteral("process")},
        {QStringLiteral("command"), QJsonArray::fromStringList(spec.command)},
        {QStringLiteral("name"), spec.name},
        {QStringLiteral("priority"), spec.priority},
        {QStringLiteral("group"), spec.group},
        {QStringLiteral("timeout_ms"), double(spec.timeoutMs)},
        {QStringLiteral("retries"), spec.retries},
        {QStringLiteral("retry_delay_ms"), double(spec.retryDelayMs)},
        {QStringLiteral("memory"), double(spec.memoryBytes)},
        {QStringLiteral("args"), args},
        {QStringLiteral("source"), QString::fromLatin1(spec.source.toBase64())},
    };
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

std::optional<TaskSpec> ClusterProtocol::decodeSpec(const QByteArray &json)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(json, &error);
    if (!document.isObject())
        return std::nullopt;
    const QJsonObject o = document.object();
    TaskSpec spec;
    spec.file = o.value(QStringLiteral("file")).toString();
    spec.kind = o.value(QStringLiteral("kind")).toString() == u"process" ? ScriptKind::Process
                                                                         : ScriptKind::Lua;
    for (const QJsonValue &part : o.value(QStringLiteral("command")).toArray())
        spec.command.append(part.toString());
    spec.name = o.value(QStringLiteral("name")).toString();
    spec.priority = o.value(QStringLiteral("priority")).toInt();
    spec.group = o.value(QStringLiteral("group")).toString(QStringLiteral("default"));
    spec.timeoutMs = qint64(o.value(QStringLiteral("timeout_ms")).toDouble(-1));
    spec.retries = o.value(QStringLiteral("retries")).toInt();
    spec.retryDelayMs = qint64(o.value(QStringLiteral("retry_delay_ms")).toDouble(1000));
    spec.memoryBytes = qint64(o.value(QStringLiteral("memory")).toDouble());
    for (const QJsonValue &pair : o.value(QStringLiteral("args")).toArray())
        spec.args.append({pair.toArray().at(0).toString(), pair.toArray().at(1).toString()});
    spec.source = QByteArray::fromBase64(o.value(QStringLiteral("source")).toString().toLatin1());
    if (spec.file.isEmpty())
        return std::nullopt;
    return spec;
}

std::shared_ptr<const CoroutineStack> ClusterProtocol::decodeStack(const QByteArray &json)
{
    const QJsonDocument document = QJsonDocument::fromJson(json);
    if (!document.isObject())
        return nullptr;
    return std::make_shared<const CoroutineStack>(stackFrom(document.object()));
}

// Pipelined batches of SubmitBatch tasks: one script call each, all written at once, so
// that no call holds Redis for long and the round trips overlap. `done` runs once, after
// the last reply, with every id in the order given (or the first error).
void ClusterProtocol::submit(const QList<TaskSpec> &specs, qint64 keepMs,
                             std::function<void(const QList<TaskId> &, const QString &)> done,
                             const DependencyOptions &dependencies)
{
    const auto idsText = [](const QList<TaskId> &ids) {
        QJsonArray array;
        for (TaskId id : ids)
            array.append(qint64(id));
        return QJsonDocument(array).toJson(QJsonDocument::Compact);
    };
    struct Pending
    {
        QList<TaskId> ids;
        QString error;
        qsizetype waiting = 0;
    };
    auto pending = std::make_shared<Pending>();
    pending->ids.resize(specs.size());
    // An empty submit still asks Redis once, as before.
    const qsizetype batches = qMax(qsizetype(1), (specs.size() + SubmitBatch - 1) / SubmitBatch);
    pending->waiting = batches;
    for (qsizetype b = 0; b < batches; ++b) {
        const qsizetype from = b * SubmitBatch;
        const qsizetype count = qMin(SubmitBatch, specs.size() - from);
        QList<QByteArray> args{number(count)};
        args.reserve(1 + count * 9);
        for (qsizetype i = from; i < from + count; ++i) {
            const TaskSpec &spec = specs[i];
            args << spec.name.toUtf8() << spec.file.toUtf8()
                 << (spec.kind == ScriptKind::Lua ? "lua" : "process") << spec.group.toUtf8()
                 << number(spec.priority) << number(spec.retries) << number(spec.retryDelayMs)
                 << number(keepMs) << encodeSpec(spec);
        }
        if (!dependencies.isEmpty())
            args << idsText(dependencies.after) << idsText(dependencies.afterEnded)
                 << (dependencies.chain ? "1" : "0");
        run(script("submit"), args,
            [done, pending, from, count](const RedisReply &reply, const QString &error) {
                if (!error.isEmpty() && pending->error.isEmpty())
                    pending->error = error;
                for (qsizetype i = 0; error.isEmpty() && i < count; ++i)
                    pending->ids[from + i] = TaskId(reply.integer + i);
                if (--pending->waiting > 0)
                    return;
                done(pending->error.isEmpty() ? pending->ids : QList<TaskId>(), pending->error);
            });
    }
}

void ClusterProtocol::heartbeat(
    const Beat &beat, std::function<void(const QList<TaskId> &, bool, const QString &)> done)
{
    QList<QByteArray> args{beat.worker.toUtf8(), number(beat.leaseMs),  beat.host.toUtf8(),
                           number(beat.pid),     number(beat.capacity), number(beat.held.size())};
    for (const auto &[id, attempt] : beat.held)
        args.append(number(qint64(id)) + ':' + number(attempt));
    for (const Beat::Progress &p : beat.progress)
        args << number(qint64(p.id)) + ':' + number(p.attempt) << QByteArray::number(p.fraction)
             << p.status.toUtf8();
    run(script("heartbeat"), args, [done](const RedisReply &reply, const QString &error) {
        QList<TaskId> cancels = error.isEmpty() ? idsOf(reply) : QList<TaskId>();
        const bool wanted = !cancels.isEmpty() && cancels.takeFirst() != 0;
        done(cancels, wanted, error);
    });
}

void ClusterProtocol::claim(const QString &worker, int freeSlots,
                            std::function<void(const QList<Claimed> &, const QString &)> done)
{
    claimWithDue(worker, freeSlots,
                 [done = std::move(done)](const QList<Claimed> &tasks, qint64,
                                          const QString &error) { done(tasks, error); });
}

void ClusterProtocol::claimWithDue(
    const QString &worker, int freeSlots,
    std::function<void(const QList<Claimed> &, qint64, const QString &)> done)
{
    run(script("claim"), {worker.toUtf8(), number(freeSlots)},
        [done](const RedisReply &reply, const QString &error) {
            QList<Claimed> claimed;
            const auto &e = reply.elements;
            for (qsizetype i = 0; error.isEmpty() && i + 2 < e.size(); i += 3) {
                Claimed task;
                task.id = TaskId(e[i].string.toULongLong());
                task.attempt = int(e[i + 1].integer);
                auto spec = decodeSpec(e[i + 2].string);
                if (!spec) {
                    // Handed back as a failure below by the caller would need the id:
                    // keep it with an empty spec so the worker reports it failed.
                    claimed.append(task);
                    continue;
                }
                task.spec = std::make_shared<const TaskSpec>(std::move(*spec));
                claimed.append(task);
            }
            // After the triples, one number: when the next delayed retry is due.
            const qint64 due = e.size() % 3 == 1 ? e.last().integer : -1;
            done(claimed, due, error);
        });
}

void ClusterProtocol::complete(const QString &worker, const QList<Ending> &endings,
                               std::function<void(const QList<TaskId> &, const QString &)> done)
{
    QList<QByteArray> args{worker.toUtf8()};
    for (const Ending &end : endings) {
        args << number(qint64(end.id)) << number(end.attempt) << end.state.toUtf8() << end.result
             << end.error.toUtf8() << end.stack
             << (end.log.isEmpty() ? QByteArray()
                                   : QJsonDocument(QJsonArray::fromStringList(end.log))
                                         .toJson(QJsonDocument::Compact));
    }
    run(script("complete"), args, [done](const RedisReply &reply, const QString &error) {
        done(error.isEmpty() ? idsOf(reply) : QList<TaskId>(), error);
    });
}

void ClusterProtocol::reap(const QByteArray &token, qint64 periodMs,
                           std::function<void(int, const QString &)> done)
{
    run(script("reap"), {token, number(periodMs)},
        [done](const RedisReply &reply, const QString &error) { done(int(reply.integer), error); });
}

void ClusterProtocol::cancel(const QList<TaskId> &ids,
                             std::function<void(const QStringList &, const QString &)> done)
{
    QList<QByteArray> args;
    for (TaskId id : ids)
        args.append(number(qint64(id)));
    run(script("cancel"), args, [done](const RedisReply &reply, const QString &error) {
        QStringList states;
        for (const RedisReply &e : reply.elements)
            states.append(QString::fromUtf8(e.string));
        done(states, error);
    });
}

void ClusterProtocol::reprioritize(TaskId id, Move move, int priority,
                                   std::function<void(int, const QString &)> done)
{
    const QByteArray how = move == Move::ToTop ? "top" : move == Move::ToBottom ? "bottom" : "set";
    run(script("priority"), {number(qint64(id)), how, number(priority)},
        [done](const RedisReply &reply, const QString &error) {
            done(error.isEmpty() ? int(reply.integer) : 0, error);
        });
}

void ClusterProtocol::limits(const QList<QByteArray> &verbs,
                             std::function<void(const Limits &, const QString &)> done)
{
    run(script("limits"), verbs, [done](const RedisReply &reply, const QString &error) {
        Limits limits;
        const auto &e = reply.elements;
        if (error.isEmpty() && e.size() >= 2) {
            limits.max = int(e[0].integer);
            limits.paused = e[1].integer != 0;
            for (qsizetype i = 2; i + 4 < e.size(); i += 5)
                limits.groups.append(GroupLimits{QString::fromUtf8(e[i].string),
                                                 int(e[i + 1].integer), int(e[i + 2].integer),
                                                 e[i + 3].integer != 0, int(e[i + 4].integer)});
        }
        done(limits, error);
    });
}

void ClusterProtocol::tasks(const QList<TaskId> &ids,
                            std::function<void(const QList<Task> &, const QString &)> done)
{
    QList<QByteArray> args;
    for (TaskId id : ids)
        args.append(number(qint64(id)));
    run(script("tasks"), args, [done](const RedisReply &reply, const QString &error) {
        QList<Task> tasks;
        const auto &e = reply.elements;
        constexpr int Width = 21; // the id and tasks.lua's 20 fields
        for (qsizetype i = 0; error.isEmpty() && i + Width - 1 < e.size(); i += Width) {
            auto f = [&](int n) -> const QByteArray & { return e[i + n].string; };
            Task task;
            TaskSnapshot &s = task.snapshot;
            s.id = TaskId(f(0).toULongLong());
            s.name = QString::fromUtf8(f(1));
            s.file = QString::fromUtf8(f(2));
            s.kind = f(3) == "process" ? ScriptKind::Process : ScriptKind::Lua;
            s.group = QString::fromUtf8(f(4));
            s.priority = f(5).toInt();
            s.state = stateNamed(f(6));
            s.attempt = f(7).toInt();
            task.worker = QString::fromUtf8(f(8));
            s.submittedAtMs = msOrNone(f(9));
            s.startedAtMs = msOrNone(f(10));
            s.finishedAtMs = msOrNone(f(11));
            if (!f(12).isEmpty()) {
                const QJsonDocument result = QJsonDocument::fromJson("[" + f(12) + "]");
                s.result =
                    result.isArray() ? result.array().at(0) : QJsonValue(QString::fromUtf8(f(12)));
            }
            s.error = QString::fromUtf8(f(13));
            if (!f(14).isEmpty())
                s.stack = std::make_shared<const CoroutineStack>(
                    stackFrom(QJsonDocument::fromJson(f(14)).object()));
            for (const QJsonValue &line : QJsonDocument::fromJson(f(15)).array())
                task.log.append(line.toString());
            s.cancelRequested = f(16) == "1";
            s.progress = f(19).isEmpty() ? -1 : f(19).toDouble();
            s.status = QString::fromUtf8(f(20));
            tasks.append(task);
        }
        done(tasks, error);
    });
}

void ClusterProtocol::workers(std::function<void(const QList<Worker> &, const QString &)> done)
{
    run(script("workers"), {}, [done](const RedisReply &reply, const QString &error) {
        QList<Worker> workers;
        const auto &e = reply.elements;
        const qint64 now = e.isEmpty() ? 0 : e[0].integer;
        for (qsizetype i = 1; error.isEmpty() && i + 6 < e.size(); i += 7) {
            Worker w;
            w.name = QString::fromUtf8(e[i].string);
            w.host = QString::fromUtf8(e[i + 1].string);
            w.pid = e[i + 2].string.toLongLong();
            w.running = e[i + 3].string.toInt();
            w.capacity = e[i + 4].string.toInt();
            const qint64 beat = msOrNone(e[i + 5].string);
            w.heartbeatAgeMs = beat < 0 ? -1 : now - beat;
            w.alive = e[i + 6].string == "alive";
            workers.append(w);
        }
        done(workers, error);
    });
}

void ClusterProtocol::putStacks(const QList<std::pair<TaskId, QByteArray>> &stacks)
{
    if (stacks.isEmpty())
        return;
    QList<QByteArray> argv{"HSET", m_prefix + "stacks"};
    for (const auto &[id, json] : stacks)
        argv << number(qint64(id)) << json;
    m_client->command(argv);
    m_client->command({"PEXPIRE", m_prefix + "stacks", "3000"});
}

void ClusterProtocol::wantStacks(std::function<void(bool, const QString &)> done)
{
    m_client->command({"SET", m_prefix + "stacks:wanted", "1", "PX", "10000", "GET"},
                      [done](const RedisReply &reply) {
                          done(!reply.isNil() && !reply.isError(),
                               reply.isError() ? QString::fromUtf8(reply.string) : QString());
                      });
}

void ClusterProtocol::stacks(
    std::function<void(const QHash<TaskId, QByteArray> &, const QString &)> done)
{
    m_client->command({"HGETALL", m_prefix + "stacks"}, [done](const RedisReply &reply) {
        QHash<TaskId, QByteArray> stacks;
        for (qsizetype i = 0; i + 1 < reply.elements.size(); i += 2)
            stacks.insert(TaskId(reply.elements[i].string.toULongLong()),
                          reply.elements[i + 1].string);
        done(stacks, reply.isError() ? QString::fromUtf8(reply.string) : QString());
    });
}
