#include "redistasksource.h"

#include "store/taskstore.h"

#include <QCoreApplication>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>

#include <algorithm>

namespace {

QByteArray number(qint64 value)
{
    return QByteArray::number(value);
}

// Runs `done` on the next event-loop turn if `context` still lives: look-ups answered
// from the cache still answer later, as the TaskSource contract says.
void later(QObject *context, std::function<void()> done)
{
    QPointer<QObject> receiver(context);
    QMetaObject::invokeMethod(
        QCoreApplication::instance(),
        [receiver, done = std::move(done)] {
            if (receiver && done)
                done();
        },
        Qt::QueuedConnection);
}

// The lines of `final` that come after the tail `seen` already shown: the final log
// repeats the live tail it grew from.
QStringList linesAfter(const QStringList &seen, const QStringList &final)
{
    if (seen.isEmpty())
        return final;
    for (qsizetype end = final.size(); end > 0; --end) {
        const qsizetype n = qMin(end, seen.size());
        if (std::equal(final.begin() + (end - n), final.begin() + end, seen.end() - n))
            return final.mid(end);
    }
    return final;
}

// The script that reads tasks' definitions (rerun, archive).
const RedisScript &specsScript()
{
    static const RedisScript script = [] {
        QFile file(QStringLiteral(":/cluster/scripts/specs.lua"));
        file.open(QIODevice::ReadOnly);
        return RedisScript(file.readAll());
    }();
    return script;
}

} // namespace

RedisTaskSource::RedisTaskSource(const RedisClient::Options &options, const QString &ns,
                                 QObject *parent)
    : TaskSource(parent)
    , m_url(options.url.display())
    , m_ns(ns)
{
    qRegisterMetaType<TaskSourceBatch>();
    RedisClient::Options commands = options;
    if (commands.clientName.isEmpty())
        commands.clientName = QStringLiteral("taskdeck-dashboard");
    m_client = std::make_unique<RedisClient>(commands);
    RedisClient::Options events = commands;
    events.clientName += QStringLiteral("-events");
    m_events = std::make_unique<RedisClient>(events);
    m_protocol = std::make_unique<ClusterProtocol>(m_client.get(), ns);

    connect(m_client.get(), &RedisClient::ready, this, &RedisTaskSource::onReady);
    connect(m_client.get(), &RedisClient::disconnected, this, &RedisTaskSource::onDisconnected);
    connect(m_client.get(), &RedisClient::fatalError, this, &RedisTaskSource::onDisconnected);
    connect(m_events.get(), &RedisClient::ready, this, [this] {
        if (m_loaded)
            readEvents();
    });

    m_flush.setSingleShot(true);
    m_flush.setInterval(BatchIntervalMs);
    connect(&m_flush, &QTimer::timeout, this, &RedisTaskSource::flushDirty);
    m_workersTimer.setInterval(WorkersIntervalMs);
    connect(&m_workersTimer, &QTimer::timeout, this, &RedisTaskSource::refreshWorkers);
    m_limitsTimer.setInterval(LimitsIntervalMs);
    connect(&m_limitsTimer, &QTimer::timeout, this, [this] { refreshLimits(); });
    m_watchTimer.setInterval(WatchIntervalMs);
    connect(&m_watchTimer, &QTimer::timeout, this, &RedisTaskSource::refreshWatched);
}

RedisTaskSource::~RedisTaskSource() = default;

void RedisTaskSource::setStore(TaskStore *store)
{
    m_store = store;
}

void RedisTaskSource::addHistory(const QList<RestoredTask> &history)
{
    for (const RestoredTask &task : history) {
        if (!isFinished(task.snapshot.state) || m_tasks.contains(task.snapshot.id))
            continue;
        adjustCounts(nullptr, task.snapshot);
        m_tasks.insert(task.snapshot.id, task.snapshot);
        m_archived.insert(task.snapshot.id);
        if (task.spec)
            m_archivedSpecs.insert(task.snapshot.id, task.spec);
    }
}

void RedisTaskSource::start()
{
    // The first batch: the history, not connected yet.
    m_disconnectedAt = QDateTime::currentDateTime();
    m_disconnectReason = QStringLiteral("connecting");
    TaskSourceBatch batch;
    batch.update.changed = m_tasks.values();
    std::sort(batch.update.changed.begin(), batch.update.changed.end(),
              [](const TaskSnapshot &a, const TaskSnapshot &b) { return a.id < b.id; });
    batch.update.counts = m_taskCounts;
    batch.update.limits = m_limitsSeen;
    batch.status = TaskSourceStatus::Disconnected;
    batch.statusText = tr("Connecting to the cluster's Redis at %1…").arg(m_url);
    deliver(batch);
    m_client->open();
    m_events->open();
}

// ---- connection -----------------------------------------------------------------------

void RedisTaskSource::onReady()
{
    const bool wasDown = !m_connected;
    m_connected = true;
    m_everConnected = true;
    if (wasDown) {
        TaskSourceBatch batch;
        batch.update.counts = m_taskCounts;
        batch.status = TaskSourceStatus::Connected;
        deliver(batch);
    }
    reload();
    refreshLimits();
    refreshWorkers();
    m_workersTimer.start();
    m_limitsTimer.start();
}

void RedisTaskSource::onDisconnected(const QString &reason)
{
    if (m_connected || !m_disconnectedAt.isValid())
        m_disconnectedAt = QDateTime::currentDateTime();
    m_connected = false;
    m_loaded = false;
    m_disconnectReason = reason;
    m_workersTimer.stop();
    m_limitsTimer.stop();
    TaskSourceBatch batch;
    batch.update.counts = m_taskCounts;
    batch.status = TaskSourceStatus::Disconnected;
    batch.statusText =
        tr("Disconnected from the cluster's Redis since %1 (%2); reconnecting by itself. "
           "Commands given meanwhile are sent once it is back.")
            .arg(m_disconnectedAt.toString(QStringLiteral("HH:mm:ss")), reason);
    deliver(batch);
}

// The stream's last id first, then every id kept, then their tasks in chunks: an event
// after that id names a task changed since, which is read again.
void RedisTaskSource::reload()
{
    const quint64 generation = ++m_generation;
    m_loaded = false;
    const QByteArray prefix = m_protocol->prefix();
    m_client->command({"XREVRANGE", prefix + "events", "+", "-", "COUNT", "1"},
                      [this, generation](const RedisReply &reply) {
                          if (generation != m_generation || reply.isError())
                              return;
                          const RedisReply entry = reply.elements.value(0);
                          m_lastEvent = entry.elements.isEmpty() ? QByteArray("0-0")
                                                                 : entry.elements.first().string;
                      });
    m_client->command({"ZRANGE", prefix + "tasks", "0", "-1"},
                      [this, generation](const RedisReply &reply) {
                          if (generation != m_generation || reply.isError())
                              return;
                          auto ids = std::make_shared<QList<TaskId>>();
                          ids->reserve(reply.elements.size());
                          for (const RedisReply &e : reply.elements)
                              ids->append(TaskId(e.string.toULongLong()));
                          fetchChunk(ids, 0, generation);
                      });
}

void RedisTaskSource::fetchChunk(std::shared_ptr<QList<TaskId>> ids, qsizetype from,
                                 quint64 generation)
{
    if (from >= ids->size()) {
        m_loaded = true;
        readEvents();
        refreshWatched();
        return;
    }
    const QList<TaskId> chunk = ids->mid(from, FetchChunk);
    m_protocol->tasks(chunk, [this, ids, from, generation](const auto &tasks, const QString &e) {
        if (generation != m_generation || !e.isEmpty())
            return; // a reconnect reloads
        apply(tasks, true);
        fetchChunk(ids, from + FetchChunk, generation);
    });
}

// ---- changes ------------------------------------------------------------------------

// XREAD BLOCK on the connection of its own, from the last entry read: each entry names
// the tasks it changed; they are read together at most every BatchIntervalMs.
void RedisTaskSource::readEvents()
{
    if (m_reading || !m_events->isReady())
        return;
    m_reading = true;
    const quint64 generation = m_generation;
    m_events->command(
        {"XREAD", "COUNT", "1000", "BLOCK", number(BlockMs), "STREAMS",
         m_protocol->prefix() + "events", m_lastEvent},
        [this, generation](const RedisReply &reply) {
            m_reading = false;
            if (reply.isError())
                return; // the connection was lost: its ready() reads again
            const RedisReply stream = reply.elements.value(0);
            for (const RedisReply &entry : stream.elements.value(1).elements) {
                if (entry.elements.size() < 2)
                    continue;
                if (generation == m_generation)
                    m_lastEvent = entry.elements[0].string;
                QHash<QByteArray, QByteArray> f;
                const auto &fields = entry.elements[1].elements;
                for (qsizetype i = 0; i + 1 < fields.size(); i += 2)
                    f.insert(fields[i].string, fields[i + 1].string);
                const QByteArray type = f.value("type");
                const TaskId id = f.value("id").toULongLong();
                if (type == "submitted") {
                    const qint64 count = f.value("state").toLongLong();
                    for (qint64 i = 0; i < count; ++i)
                        markDirty(id + TaskId(i));
                } else if (type == "limits") {
                    refreshLimits();
                } else if (f.contains("ids")) {
                    for (const QByteArray &each : f.value("ids").split(' '))
                        markDirty(each.toULongLong());
                } else {
                    if (type == "lost")
                        m_lostFrom.insert(id, QString());
                    markDirty(id);
                }
            }
            if (m_loaded)
                readEvents();
        },
        BlockMs + 10000);
}

void RedisTaskSource::markDirty(TaskId id)
{
    if (id == 0)
        return;
    m_dirty.insert(id);
    if (!m_fetching && !m_flush.isActive())
        m_flush.start();
}

void RedisTaskSource::flushDirty()
{
    if (m_fetching || m_dirty.isEmpty())
        return;
    QList<TaskId> ids;
    ids.reserve(qMin(m_dirty.size(), qsizetype(FetchChunk)));
    for (auto it = m_dirty.begin(); it != m_dirty.end() && ids.size() < FetchChunk;)
        ids.append(*it), it = m_dirty.erase(it);
    std::sort(ids.begin(), ids.end());
    m_fetching = true;
    m_protocol->tasks(ids, [this, ids](const auto &tasks, const QString &error) {
        m_fetching = false;
        if (!error.isEmpty()) {
            for (TaskId id : ids)
                m_dirty.insert(id); // read again once Redis answers
        } else {
            apply(tasks, false);
        }
        if (!m_dirty.isEmpty() && m_connected)
            m_flush.start();
    });
}

void RedisTaskSource::adjustCounts(const TaskSnapshot *before, const TaskSnapshot &after)
{
    auto field = [](EngineCounts &c, TaskState state) -> int & {
        switch (state) {
        case TaskState::Pending:
            return c.pending;
        case TaskState::Running:
            return c.running;
        case TaskState::Succeeded:
            return c.succeeded;
        case TaskState::Failed:
            return c.failed;
        case TaskState::TimedOut:
            return c.timedOut;
        case TaskState::Cancelled:
            return c.cancelled;
        case TaskState::Interrupted:
            break;
        }
        return c.interrupted;
    };
    if (before)
        --field(m_taskCounts, before->state);
    ++field(m_taskCounts, after.state);
}

void RedisTaskSource::apply(const QList<ClusterProtocol::Task> &tasks, bool initial)
{
    TaskSourceBatch batch;
    batch.update.changed.reserve(tasks.size());
    QList<TaskSnapshot> ended;
    bool watchedChanged = false;
    for (const ClusterProtocol::Task &task : tasks) {
        TaskSnapshot s = task.snapshot;
        s.worker = task.worker;
        s.maxAttempts = qMax(1, s.attempt);
        auto it = m_tasks.find(s.id);
        if (it != m_tasks.end()) {
            const TaskSnapshot &before = *it;
            if (!isFinished(before.state) && isFinished(s.state) && !s.worker.isEmpty())
                ++m_endedBy[s.worker];
            if (before.state == TaskState::Running && !before.worker.isEmpty() &&
                (s.worker != before.worker || s.attempt != before.attempt ||
                 s.error == u"worker lost") &&
                (m_lostFrom.contains(s.id) || s.error == u"worker lost")) {
                m_lostFrom[s.id] = before.worker;
            }
            adjustCounts(&before, s);
            *it = s;
        } else {
            adjustCounts(nullptr, s);
            m_tasks.insert(s.id, s);
        }
        if (isFinished(s.state) && m_store && !m_archived.contains(s.id)) {
            ended.append(s);
            m_archived.insert(s.id);
        }
        if (isWatched(s.id)) {
            watchedChanged = true;
            if (isFinished(s.state) && !task.log.isEmpty()) {
                // The worker's live log tail stops here; its final one says the rest.
                const QStringList rest = linesAfter(m_watchLog.value(s.id), task.log);
                if (m_logSeen.contains(s.id) && !rest.isEmpty())
                    batch.update.logs.append(LogLines{s.id, rest});
                m_watchLog[s.id] = task.log;
            }
        }
        batch.update.changed.append(s);
    }
    Q_UNUSED(initial);
    batch.update.counts = m_taskCounts;
    deliver(batch);
    if (!ended.isEmpty())
        archive(ended);
    if (watchedChanged)
        refreshWatched();
}

// Finished tasks into the local store, with their definitions (read with one script
// call), so that history, search, export and Re-run outlive Redis's retention.
void RedisTaskSource::archive(const QList<TaskSnapshot> &ended)
{
    QList<QByteArray> args;
    for (const TaskSnapshot &s : ended)
        args.append(number(qint64(s.id)));
    m_client->eval(
        specsScript(), {m_protocol->prefix()}, args, [this, ended](const RedisReply &reply) {
            if (!m_store || reply.isError())
                return;
            QList<TaskId> ids;
            QList<std::shared_ptr<const TaskSpec>> specs;
            EngineUpdate update;
            for (qsizetype i = 0; i < ended.size(); ++i) {
                const auto spec = ClusterProtocol::decodeSpec(reply.elements.value(i).string);
                if (!spec)
                    continue; // expired meanwhile
                ids.append(ended[i].id);
                specs.append(std::make_shared<const TaskSpec>(*spec));
                update.changed.append(ended[i]);
            }
            if (ids.isEmpty())
                return;
            update.counts = m_taskCounts;
            m_store->submitted(ids, specs, qint64(ids.first()));
            m_store->published(update);
        });
}

// ---- limits and workers ---------------------------------------------------------------

void RedisTaskSource::refreshLimits(const QList<QByteArray> &verbs)
{
    m_protocol->limits(verbs, [this, changes = !verbs.isEmpty()](const ClusterProtocol::Limits &l,
                                                                 const QString &error) {
        if (!error.isEmpty()) {
            if (changes)
                notice(tr("The cluster refused the limits: %1").arg(error));
            return;
        }
        m_clusterLimits = l;
        EngineLimits limits;
        limits.maxRunning = l.max > 0 ? l.max : NoLimit;
        limits.paused = l.paused;
        for (const ClusterProtocol::GroupLimits &g : l.groups) {
            if (g.limit > 0)
                limits.groupLimits.insert(g.group, g.limit);
            if (g.paused)
                limits.pausedGroups.append(g.group);
        }
        limits.pausedGroups.sort();
        if (changes)
            announce("limits", 0);
        if (m_limitsKnown && limits == m_limitsSeen)
            return;
        m_limitsKnown = true;
        m_limitsSeen = limits;
        TaskSourceBatch batch;
        batch.update.counts = m_taskCounts;
        batch.update.limits = limits;
        deliver(batch);
    });
}

void RedisTaskSource::refreshWorkers()
{
    m_protocol->workers([this](const QList<ClusterProtocol::Worker> &workers, const QString &e) {
        if (!e.isEmpty())
            return;
        QHash<QString, WorkerInfo> before;
        for (const WorkerInfo &w : std::as_const(m_workers))
            before.insert(w.worker.name, w);
        // What happened to the tasks of each lost worker.
        QHash<QString, std::pair<int, int>> lost; // worker -> requeued, failed
        for (auto it = m_lostFrom.cbegin(); it != m_lostFrom.cend(); ++it) {
            if (it.value().isEmpty())
                continue;
            const TaskSnapshot s = m_tasks.value(it.key());
            auto &[requeued, failed] = lost[it.value()];
            if (s.state == TaskState::Failed)
                ++failed;
            else
                ++requeued;
        }
        QList<WorkerInfo> now;
        for (const ClusterProtocol::Worker &w : workers) {
            WorkerInfo info = before.value(w.name);
            info.worker = w;
            info.ended.append(m_endedBy.value(w.name));
            if (info.ended.size() > 30)
                info.ended.removeFirst();
            if (!w.alive) {
                const auto [requeued, failed] = lost.value(w.name);
                info.lostReport = requeued + failed == 0
                                      ? tr("lost; it held no task")
                                      : tr("lost: %1 task(s) back in the queue, %2 failed "
                                           "(worker lost)")
                                            .arg(requeued)
                                            .arg(failed);
            } else {
                info.lostReport.clear();
            }
            now.append(info);
        }
        std::sort(now.begin(), now.end(), [](const WorkerInfo &a, const WorkerInfo &b) {
            return a.worker.name < b.worker.name;
        });
        m_endedBy.clear();
        m_workers = now;
        Q_EMIT workersChanged();
    });
}

// ---- watched tasks -------------------------------------------------------------------

void RedisTaskSource::watchStarted(TaskId id)
{
    m_logSeen.remove(id); // its next report carries the whole log
    m_watchLog.remove(id);
    if (!m_watchTimer.isActive())
        m_watchTimer.start();
    refreshWatched();
}

void RedisTaskSource::watchEnded(TaskId id)
{
    m_logSeen.remove(id);
    m_watchLog.remove(id);
    m_lastStack.remove(id);
    if (watched().isEmpty())
        m_watchTimer.stop();
}

// A report on every watched task: from the cache, plus for running ones their live stack
// and log tail as their workers last wrote them (the keys stacks:wanted and watched ask
// workers to, on their next heartbeat), and for a first report on another task its log as
// Redis keeps it. One request in flight at a time.
void RedisTaskSource::refreshWatched()
{
    const QList<TaskId> ids = watched();
    if (ids.isEmpty() || m_watchInFlight || !m_connected)
        return;
    QList<TaskId> running, first;
    for (TaskId id : ids) {
        const auto it = m_tasks.constFind(id);
        if (it == m_tasks.cend())
            continue;
        if (it->state == TaskState::Running)
            running.append(id);
        else if (!m_logSeen.contains(id))
            first.append(id);
    }
    struct Replies
    {
        int waiting = 0;
        QHash<TaskId, QByteArray> stacks;
        QHash<TaskId, QByteArray> logs;
        QHash<TaskId, QStringList> finalLogs;
    };
    auto replies = std::make_shared<Replies>();
    auto finish = [this, ids, replies] {
        if (--replies->waiting > 0)
            return;
        m_watchInFlight = false;
        TaskSourceBatch batch;
        batch.update.counts = m_taskCounts;
        for (TaskId id : ids) {
            if (!isWatched(id))
                continue;
            WatchedTask w;
            w.id = id;
            const auto it = m_tasks.constFind(id);
            if (it != m_tasks.cend())
                w.snapshot = *it;
            QStringList log;
            qint64 count = -1;
            if (w.snapshot && w.snapshot->state == TaskState::Running) {
                const QByteArray stack = replies->stacks.value(id);
                if (!stack.isEmpty())
                    m_lastStack.insert(id, ClusterProtocol::decodeStack(stack));
                w.stack = m_lastStack.value(id);
                const QJsonObject entry = QJsonDocument::fromJson(replies->logs.value(id)).object();
                if (!entry.isEmpty()) {
                    count = qint64(entry.value(QStringLiteral("n")).toDouble());
                    for (const QJsonValue &line : entry.value(QStringLiteral("lines")).toArray())
                        log.append(line.toString());
                }
            } else if (w.snapshot && w.snapshot->state == TaskState::Pending) {
                w.waitReason = waitReason(*w.snapshot);
            }
            if (replies->finalLogs.contains(id)) {
                log = replies->finalLogs.value(id);
                count = log.size();
            }
            if (!m_logSeen.contains(id)) {
                if (count < 0 && w.snapshot && w.snapshot->state == TaskState::Running)
                    count = 0; // its worker writes the log on its next heartbeat
                if (count >= 0) {
                    w.fullLog = true;
                    w.log = log;
                    m_logSeen.insert(id, count);
                    m_watchLog.insert(id, log);
                }
            } else if (count > m_logSeen.value(id)) {
                const qint64 added = count - m_logSeen.value(id);
                batch.update.logs.append(
                    LogLines{id, log.mid(qMax(qsizetype(0), log.size() - qsizetype(added)))});
                m_logSeen.insert(id, count);
                m_watchLog.insert(id, log);
            }
            batch.watched.append(w);
        }
        deliver(batch);
    };
    m_watchInFlight = true;
    replies->waiting = 1;
    const QByteArray prefix = m_protocol->prefix();
    if (!running.isEmpty()) {
        if (!m_wantedAt.isValid() || m_wantedAt.elapsed() > 4000) {
            m_wantedAt.start();
            m_client->command({"SET", prefix + "stacks:wanted", "1", "PX", "10000"});
        }
        QList<QByteArray> add{"SADD", prefix + "watched"};
        QList<QByteArray> stacks{"HMGET", prefix + "stacks"};
        QList<QByteArray> logs{"HMGET", prefix + "logs"};
        for (TaskId id : running) {
            add.append(number(qint64(id)));
            stacks.append(number(qint64(id)));
            logs.append(number(qint64(id)));
        }
        m_client->command(add);
        m_client->command({"PEXPIRE", prefix + "watched", "10000"});
        replies->waiting += 2;
        m_client->command(stacks, [replies, running, finish](const RedisReply &reply) {
            for (qsizetype i = 0; i < running.size() && i < reply.elements.size(); ++i)
                replies->stacks.insert(running[i], reply.elements[i].string);
            finish();
        });
        m_client->command(logs, [replies, running, finish](const RedisReply &reply) {
            for (qsizetype i = 0; i < running.size() && i < reply.elements.size(); ++i)
                replies->logs.insert(running[i], reply.elements[i].string);
            finish();
        });
    }
    QList<TaskId> inRedis;
    for (TaskId id : first)
        if (!m_archivedSpecs.contains(id))
            inRedis.append(id);
    if (!inRedis.isEmpty()) {
        ++replies->waiting;
        m_protocol->tasks(inRedis, [replies, finish](const auto &tasks, const QString &) {
            for (const ClusterProtocol::Task &t : tasks)
                replies->finalLogs.insert(t.snapshot.id, t.log);
            finish();
        });
    }
    for (TaskId id : first)
        if (!inRedis.contains(id))
            replies->finalLogs.insert(id, QStringList()); // archived: its log is the store's
    finish();
}

QString RedisTaskSource::waitReason(const TaskSnapshot &task) const
{
    if (m_clusterLimits.paused)
        return tr("the cluster is paused");
    int running = 0;
    for (const ClusterProtocol::GroupLimits &g : m_clusterLimits.groups) {
        running += g.running;
        if (g.group != task.group)
            continue;
        if (g.paused)
            return tr("group %1 is paused").arg(task.group);
        if (g.limit > 0 && g.running >= g.limit)
            return tr("group %1: %2/%3 running").arg(task.group).arg(g.running).arg(g.limit);
    }
    if (m_clusterLimits.max > 0 && running >= m_clusterLimits.max)
        return tr("the cluster's limit: %1/%2 running").arg(running).arg(m_clusterLimits.max);
    if (task.attempt > 0 && !task.error.isEmpty())
        return tr("waiting out its retry delay");
    bool alive = false;
    for (const WorkerInfo &w : m_workers)
        alive = alive || w.worker.alive;
    return alive ? tr("waiting for a free slot on a worker") : tr("no worker is running");
}

// ---- commands ---------------------------------------------------------------------------

void RedisTaskSource::notice(const QString &text)
{
    TaskSourceBatch batch;
    batch.update.counts = m_taskCounts;
    batch.status = status();
    batch.notices.append(text);
    deliver(batch);
}

// Tells every dashboard that something nothing else announces changed (a cancel asked of
// a running task, limits): an entry on the stream "events", as the scripts write.
void RedisTaskSource::announce(const QByteArray &type, TaskId id)
{
    m_client->command({"XADD", m_protocol->prefix() + "events", "MAXLEN", "~", "10000", "*", "type",
                       type, "id", number(qint64(id)), "state", ""});
}

void RedisTaskSource::submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                             QObject *context, Submitted done)
{
    QList<TaskSpec> specs;
    for (const auto &[spec, copies] : specsAndCopies)
        for (int i = 0; i < copies; ++i)
            specs.append(spec);
    if (specs.isEmpty()) {
        if (done)
            later(context, [done] { done({}); });
        return;
    }
    if (!m_connected)
        notice(tr("Redis at %1 is unreachable: %n task(s) will be submitted once it is back.",
                  nullptr, int(specs.size()))
                   .arg(m_url));
    QPointer<QObject> receiver(context);
    const qsizetype count = specs.size();
    m_protocol->submit(
        specs, ClusterProtocol::DefaultKeepMs,
        [this, receiver, done, count](const QList<TaskId> &ids, const QString &e) {
            if (!e.isEmpty())
                notice(tr("%n task(s) were not submitted to the cluster: %1", nullptr, int(count))
                           .arg(e));
            for (TaskId id : ids)
                markDirty(id);
            if (receiver && done)
                done(ids);
        });
}

void RedisTaskSource::rerun(const QList<TaskId> &ids, QObject *context, Submitted done)
{
    QList<TaskId> inRedis;
    for (TaskId id : ids)
        if (!m_archivedSpecs.contains(id))
            inRedis.append(id);
    QList<QByteArray> args;
    for (TaskId id : inRedis)
        args.append(number(qint64(id)));
    QPointer<QObject> receiver(context);
    auto submitAll = [this, ids, inRedis, receiver, done](const RedisReply &reply) {
        QList<std::pair<TaskSpec, int>> specs;
        for (TaskId id : ids) {
            if (const auto spec = m_archivedSpecs.value(id)) {
                specs.append({*spec, 1});
                continue;
            }
            const qsizetype at = inRedis.indexOf(id);
            if (const auto spec = ClusterProtocol::decodeSpec(reply.elements.value(at).string))
                specs.append({*spec, 1});
        }
        if (specs.size() < ids.size())
            notice(tr("%n task(s) cannot be re-run: Redis no longer has their definition.", nullptr,
                      int(ids.size() - specs.size())));
        submit(specs, receiver, done);
    };
    if (inRedis.isEmpty())
        submitAll(RedisReply());
    else
        m_client->eval(specsScript(), {m_protocol->prefix()}, args, submitAll);
}

void RedisTaskSource::cancel(const QList<TaskId> &ids)
{
    if (ids.isEmpty())
        return;
    m_protocol->cancel(ids, [this, ids](const QStringList &states, const QString &error) {
        if (!error.isEmpty()) {
            notice(tr("The cancel did not reach the cluster: %1").arg(error));
            return;
        }
        for (qsizetype i = 0; i < ids.size() && i < states.size(); ++i) {
            markDirty(ids[i]);
            if (states[i] == u"running")
                announce("cancel", ids[i]); // the script announces only what ended
        }
    });
}

void RedisTaskSource::cancelAllPending()
{
    QList<TaskId> ids;
    for (const TaskSnapshot &s : std::as_const(m_tasks))
        if (s.state == TaskState::Pending)
            ids.append(s.id);
    std::sort(ids.begin(), ids.end());
    for (qsizetype i = 0; i < ids.size(); i += FetchChunk)
        cancel(ids.mid(i, FetchChunk));
}

void RedisTaskSource::cancelAll()
{
    QList<TaskId> ids;
    for (const TaskSnapshot &s : std::as_const(m_tasks))
        if (!isFinished(s.state))
            ids.append(s.id);
    std::sort(ids.begin(), ids.end());
    for (qsizetype i = 0; i < ids.size(); i += FetchChunk)
        cancel(ids.mid(i, FetchChunk));
}

void RedisTaskSource::setPriority(TaskId id, int priority)
{
    m_protocol->reprioritize(id, ClusterProtocol::Move::SetPriority, priority,
                             [this, id](int, const QString &error) {
                                 if (!error.isEmpty())
                                     notice(tr("Task %1: %2").arg(id).arg(error));
                             });
}

void RedisTaskSource::moveToTop(TaskId id)
{
    m_protocol->reprioritize(id, ClusterProtocol::Move::ToTop, 0,
                             [this, id](int, const QString &error) {
                                 if (!error.isEmpty())
                                     notice(tr("Task %1: %2").arg(id).arg(error));
                             });
}

void RedisTaskSource::moveToBottom(TaskId id)
{
    m_protocol->reprioritize(id, ClusterProtocol::Move::ToBottom, 0,
                             [this, id](int, const QString &error) {
                                 if (!error.isEmpty())
                                     notice(tr("Task %1: %2").arg(id).arg(error));
                             });
}

// The cluster orders a group by priority, then id: a task dropped before `before` takes
// its priority when it is older (its id already puts it first), else one more.
void RedisTaskSource::moveBefore(TaskId id, TaskId before)
{
    const auto target = m_tasks.constFind(before);
    if (target == m_tasks.cend())
        return;
    setPriority(id, target->priority + (id < before ? 0 : 1));
}

void RedisTaskSource::setMaxRunning(int limit)
{
    refreshLimits({"max", number(limit >= NoLimit ? 0 : limit)});
}

void RedisTaskSource::setGroupLimit(const QString &group, int limit)
{
    refreshLimits({"group", group.toUtf8() + '=' + number(qMax(0, limit))});
}

void RedisTaskSource::setPaused(bool paused)
{
    refreshLimits({paused ? QByteArray("pause") : QByteArray("resume"), QByteArray()});
}

void RedisTaskSource::setGroupPaused(const QString &group, bool paused)
{
    refreshLimits({paused ? QByteArray("pause") : QByteArray("resume"), group.toUtf8()});
}

void RedisTaskSource::forget(const QList<TaskId> &ids)
{
    if (m_store && !ids.isEmpty())
        m_store->forget(ids);
}

// ---- look-ups ---------------------------------------------------------------------------

void RedisTaskSource::lookUp(const QList<TaskId> &ids, QObject *context,
                             std::function<void(const QList<std::optional<TaskSnapshot>> &)> done)
{
    QList<std::optional<TaskSnapshot>> tasks;
    tasks.reserve(ids.size());
    for (TaskId id : ids) {
        const auto it = m_tasks.constFind(id);
        tasks.append(it == m_tasks.cend() ? std::nullopt : std::optional<TaskSnapshot>(*it));
    }
    later(context, [tasks, done = std::move(done)] { done(tasks); });
}

void RedisTaskSource::list(bool withStacks, QObject *context,
                           std::function<void(const Listing &)> done)
{
    auto listing = std::make_shared<Listing>();
    listing->tasks = m_tasks.values();
    std::sort(listing->tasks.begin(), listing->tasks.end(),
              [](const TaskSnapshot &a, const TaskSnapshot &b) { return a.id < b.id; });
    if (!withStacks) {
        later(context, [listing, done = std::move(done)] { done(*listing); });
        return;
    }
    for (const TaskSnapshot &s : std::as_const(listing->tasks))
        if (s.state == TaskState::Pending)
            listing->waitReasons.insert(s.id, waitReason(s));
    QPointer<QObject> receiver(context);
    auto read = [this, listing, receiver, done] {
        m_protocol->stacks(
            [listing, receiver, done](const QHash<TaskId, QByteArray> &stacks, const QString &) {
                for (auto it = stacks.cbegin(); it != stacks.cend(); ++it)
                    listing->stacks.insert(it.key(), ClusterProtocol::decodeStack(it.value()));
                if (receiver && done)
                    done(*listing);
            });
    };
    // As `ps --stacks`: workers write stacks on their next heartbeat once asked.
    m_protocol->wantStacks([this, read](bool fresh, const QString &) {
        if (fresh)
            read();
        else
            QTimer::singleShot(1200, this, read);
    });
}

void RedisTaskSource::sync(QObject *context, std::function<void()> done)
{
    QPointer<QObject> receiver(context);
    m_client->command({"PING"}, [receiver, done = std::move(done)](const RedisReply &) {
        if (receiver && done)
            done();
    });
}

void RedisTaskSource::commit(QObject *context, std::function<void(const QString &)> done)
{
    QPointer<QObject> receiver(context);
    m_client->command({"PING"}, [receiver, done = std::move(done)](const RedisReply &reply) {
        if (receiver && done)
            done(reply.isError() ? QString::fromUtf8(reply.string) : QString());
    });
}
