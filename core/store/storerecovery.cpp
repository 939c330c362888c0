// StoreDatabase: reading back what the last run left.
#include "storesql.h"

#include "storecodec.h"

#include <QHash>
#include <QSet>
#include <QStringList>

#include <algorithm>
#include <vector>

using namespace StoreSql;

namespace {

const char *const TaskColumns =
    "id, spec_id, priority, sequence, state, attempt, max_attempts, submitted_at, "
    "started_at, finished_at, progress, status, result, error, stack, log_tail";

qint64 timeFrom(const QVariant &value)
{
    return value.isNull() ? -1 : value.toLongLong();
}

} // namespace

std::optional<TaskId> StoreDatabase::highestId()
{
    QSqlQuery q(m_db);
    if (!q.exec(QStringLiteral("SELECT max(coalesce((SELECT MAX(id) FROM tasks), 0),"
                               " coalesce((SELECT value FROM meta"
                               " WHERE key = 'forgotten_max_id'), 0),"
                               " coalesce((SELECT max(json_extract(g.value, '$[0]')"
                               " + json_extract(g.value, '$[1]') - 1) FROM submissions AS s,"
                               " json_each(s.tasks) AS g WHERE json_valid(s.tasks)"
                               " AND g.type = 'array'), 0))")) ||
        !q.next()) {
        fail(q);
        return std::nullopt;
    }
    return TaskId(q.value(0).toLongLong());
}

// ---- recovering ----

std::optional<StoreDatabase::Recovered> StoreDatabase::recover(int historyLimit, qint64 nowMs,
                                                               bool deleteUnusedSpecs)
{
    if (!begin())
        return std::nullopt;
    auto abort = [this](const QSqlQuery &query) -> std::optional<Recovered> {
        fail(query);
        m_db.rollback();
        return std::nullopt;
    };
    QSqlQuery q(m_db);
    q.setForwardOnly(true);

    // Submitted tasks that had no row yet are pending ones.
    Recovered out;
    QSqlQuery &damaged = m_statements->countDamagedSubmissions;
    if (!damaged.exec())
        return abort(damaged);
    out.damagedSubmissions = damaged.next() ? damaged.value(0).toInt() : 0;
    damaged.finish();
    if (!materializeSubmissions()) {
        m_db.rollback();
        return std::nullopt;
    }

    // Tasks that were running when Taskdeck stopped did not fail: they were interrupted.
    QSet<TaskId> interrupted;
    QStringList groups;
    if (!q.exec(QStringLiteral("SELECT t.id, s.group_name FROM tasks t"
                               " LEFT JOIN specs s ON s.id = t.spec_id"
                               " WHERE t.state = 'running'")))
        return abort(q);
    while (q.next()) {
        interrupted.insert(TaskId(q.value(0).toLongLong()));
        if (const QString group = q.value(1).toString();
            !group.isEmpty() && !groups.contains(group))
            groups.append(group);
    }
    q.finish();
    if (!interrupted.isEmpty()) {
        q.prepare(QStringLiteral("UPDATE tasks SET state = 'interrupted',"
                                 " error = ?,"
                                 " finished_at = ?, transitions = ltrim(transitions || ' ' || ?)"
                                 " WHERE state = 'running'"));
        q.addBindValue(QStringLiteral("interrupted: Taskdeck stopped while it ran"));
        q.addBindValue(nowMs);
        q.addBindValue(QStringLiteral("interrupted@%1").arg(nowMs));
        if (!q.exec())
            return abort(q);
    }
    if (deleteUnusedSpecs &&
        !q.exec(QStringLiteral("DELETE FROM specs WHERE NOT EXISTS"
                               " (SELECT 1 FROM tasks WHERE tasks.spec_id = specs.id)")))
        return abort(q);

    struct Row
    {
        RestoredTask task;
        qint64 specRow = 0;
    };
    auto read = [](const QSqlQuery &q) {
        Row row;
        TaskSnapshot &s = row.task.snapshot;
        s.id = TaskId(q.value(0).toLongLong());
        row.specRow = q.value(1).toLongLong();
        s.priority = q.value(2).toInt();
        s.sequence = q.value(3).toLongLong();
        s.state = StoreCodec::stateFromName(q.value(4).toString()).value_or(TaskState::Failed);
        s.attempt = q.value(5).toInt();
        s.maxAttempts = q.value(6).toInt();
        s.submittedAtMs = timeFrom(q.value(7));
        s.startedAtMs = timeFrom(q.value(8));
        s.finishedAtMs = timeFrom(q.value(9));
        s.progress = q.value(10).isNull() ? -1 : q.value(10).toDouble();
        s.status = q.value(11).toString();
        s.result = StoreCodec::resultFromText(q.value(12).toString());
        s.error = q.value(13).toString();
        s.stack = StoreCodec::stackFromText(q.value(14).toString());
        row.task.log = StoreCodec::stringsFromText(q.value(15).toString());
        return row;
    };
    const QString columns = QString::fromLatin1(TaskColumns);

    // The history: the most recently finished, and every interrupted task, by id.
    std::vector<Row> finished;
    q.prepare(QStringLiteral("SELECT %1 FROM tasks WHERE finished_at IS NOT NULL"
                             " AND state NOT IN ('pending', 'running')"
                             " ORDER BY finished_at DESC, id DESC LIMIT ?")
                  .arg(columns));
    q.addBindValue(qMax(0, historyLimit));
    if (!q.exec())
        return abort(q);
    QSet<TaskId> seen;
    while (q.next()) {
        finished.push_back(read(q));
        seen.insert(finished.back().task.snapshot.id);
    }
    q.finish();
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'interrupted'").arg(columns)))
        return abort(q);
    while (q.next()) {
        if (!seen.contains(TaskId(q.value(0).toLongLong())))
            finished.push_back(read(q));
    }
    q.finish();
    std::sort(finished.begin(), finished.end(),
              [](const Row &a, const Row &b) { return a.task.snapshot.id < b.task.snapshot.id; });

    // The queue, in the engine's order: priority, then sequence (never published: last).
    std::vector<Row> pending;
    if (!q.exec(QStringLiteral("SELECT %1 FROM tasks WHERE state = 'pending'"
                               " ORDER BY priority DESC, sequence IS NULL, sequence, id")
                    .arg(columns)))
        return abort(q);
    while (q.next())
        pending.push_back(read(q));
    q.finish();

    // What they wait for (only tasks submitted with dependencies have a row).
    QHash<TaskId, QString> after;
    if (!q.exec(QStringLiteral("SELECT task_id, after FROM dependencies")))
        return abort(q);
    while (q.next())
        after.insert(TaskId(q.value(0).toLongLong()), q.value(1).toString());
    q.finish();
    if (!after.isEmpty()) {
        for (std::vector<Row> *rows : {&finished, &pending})
            for (Row &row : *rows)
                if (auto it = after.constFind(row.task.snapshot.id); it != after.constEnd())
                    row.task.snapshot.dependencies = TaskDependencyText::decode(*it);
    }

    // One TaskSpec per spec row, shared by its tasks.
    QHash<qint64, std::shared_ptr<const TaskSpec>> specs;
    q.prepare(QStringLiteral("SELECT file, kind, command, name, group_name, priority,"
                             " timeout_ms, retries, retry_delay_ms, memory_bytes, args, source"
                             " FROM specs WHERE id = ?"));
    auto specOf = [&](qint64 row) -> std::shared_ptr<const TaskSpec> {
        if (auto it = specs.constFind(row); it != specs.constEnd())
            return *it;
        std::shared_ptr<const TaskSpec> made;
        q.addBindValue(row);
        if (q.exec() && q.next()) {
            auto spec = std::make_shared<TaskSpec>();
            spec->file = q.value(0).toString();
            spec->kind = StoreCodec::kindFromName(q.value(1).toString()).value_or(ScriptKind::Lua);
            spec->command = StoreCodec::stringsFromText(q.value(2).toString());
            spec->name = q.value(3).toString();
            spec->group = q.value(4).toString();
            spec->priority = q.value(5).toInt();
            spec->timeoutMs = q.value(6).toLongLong();
            spec->retries = q.value(7).toInt();
            spec->retryDelayMs = q.value(8).toLongLong();
            spec->memoryBytes = q.value(9).toLongLong();
            spec->args = StoreCodec::argsFromText(q.value(10).toString());
            spec->source = q.value(11).toByteArray();
            made = std::move(spec);
        }
        q.finish();
        specs.insert(row, made); // a missing row stays missing
        return made;
    };

    StoreRecovery &recovery = out.recovery;
    recovery.tasks.reserve(qsizetype(finished.size() + pending.size()));
    auto take = [&](Row &row) {
        row.task.spec = specOf(row.specRow);
        if (!row.task.spec)
            return false; // nothing to run or show without its definition
        TaskSnapshot &s = row.task.snapshot;
        s.name = row.task.spec->name;
        s.file = row.task.spec->file;
        s.group = row.task.spec->group;
        s.kind = row.task.spec->kind;
        recovery.tasks.append(std::move(row.task));
        out.specRows.append(row.specRow);
        return true;
    };
    for (Row &row : finished) {
        const bool isNew = interrupted.contains(row.task.snapshot.id);
        if (take(row)) {
            ++recovery.finished;
            recovery.interrupted += isNew ? 1 : 0;
        }
    }
    for (Row &row : pending)
        recovery.pending += take(row) ? 1 : 0;
    recovery.interruptedGroups = groups;
    // Ids are never used twice, even those of tasks left out of the history or forgotten.
    const std::optional<TaskId> lastId = highestId();
    if (!lastId) {
        m_db.rollback();
        return std::nullopt;
    }
    recovery.lastId = *lastId;
    if (!commit())
        return std::nullopt;
    return out;
}
